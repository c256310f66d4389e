import unittest

from loom_bundle import (
    AgentReply, Bundle, Change, Decider, GateDecision, GateDecl, Manifest, NextStep, Param, Risk,
    RuleDecl, Setting, Step, Template, Violation, log, refuse, view,
)
from loom_bundle.testing import Driver, ScriptedView, SetupError


class Review(Bundle):
    """write → review gate → done; the gate's decider, the rule and the faults are steered by
    the task title, so each test reads as one scenario."""

    def manifest(self):
        return (
            Manifest("review", "1")
            .phases("write", "review", "done", "failed")
            .step(Step("write", "write").agent("writer", "w"))
            .gate(GateDecl("review", Decider.AGENT, Risk.LOW, role="reviewer"))
            .rule(RuleDecl("short", "a draft is at most 20 characters"))
            .template(Template("w", "Write: {{task}}").param(Param.text("task")))
            .setting(Setting.integer("limit", 20))
        )

    def next(self, tick):
        if "crash:next" in view.task().title and view.phase() == "review":
            {}["missing"]
        return {
            "write": lambda: NextStep.agent("write", "writer", "w", {"task": view.task().title}),
            "review": lambda: NextStep.gate("review", view.fact_json("draft", "1")["text"], require_human="human" in view.task().title),
            "done": lambda: NextStep.finish("written"),
            "failed": lambda: NextStep.fail("rejected"),
        }[view.phase()]()

    def apply(self, tick, step, outcome):
        if isinstance(outcome, AgentReply):
            if outcome.text == "?":
                refuse("a draft is not a question mark")
            log.info(f"draft of {len(outcome.text)} characters")
            return [Change.put_fact("draft", "1", {"text": outcome.text}), Change.phase("review")]
        assert isinstance(outcome, GateDecision)
        if outcome.approved and outcome.note == "refuse":
            refuse("approve it without a note")
        return [Change.phase("done" if outcome.approved else "write")]

    def check(self, tick):
        d = view.fact("draft", "1")
        if d is not None and len(d.json()["text"]) > self.setting("limit"):
            return [Violation("short", "the draft is too long", [d.row()])]
        return []


class Gates(unittest.TestCase):
    def test_an_agent_decides_with_approve_or_reject_on_its_first_line(self):
        d = Driver(Review, "greet").reply("writer", "hello", "hi").reply("reviewer", "REJECT: too long", "\nAPPROVE\nfine")
        t = d.run().expect("done")
        self.assertEqual(t.phases, ["write", "review", "write", "review", "done"])
        self.assertEqual(d.state.gates()[0].note, "too long")
        self.assertEqual(d.state.gates()[1].decided_by, "scripted")

    def test_an_agent_answer_that_is_neither_stops_the_run(self):
        t = Driver(Review, "greet").reply("writer", "hello").reply("reviewer", "maybe").run().expect("stopped")
        self.assertIn("neither APPROVE nor REJECT: 'maybe'", t.reason)

    def test_a_human_gate_waits_and_a_refused_decision_records_nothing(self):
        d = Driver(Review, "human please").reply("writer", "hello")
        t = d.run().expect("waiting")
        seq = d.seq
        d.decide("review", True, note="refuse")
        t = d.run().expect("waiting")
        self.assertEqual(t.refusals, [("review", "approve it without a note")])
        self.assertEqual(d.seq, seq, "the refused decision took no tick")
        self.assertEqual(d.state.latest_gate("review").status.value, "pending")
        self.assertEqual(d.approve("review").run().expect("done").phases[-1], "done")

    def test_the_policy_dial(self):
        d = Driver(Review, "greet", policy="manual").reply("writer", "hello")
        d.run().expect("waiting")
        self.assertIs(d.state.latest_gate("review").decider, Decider.HUMAN)
        d = Driver(Review, "greet", gate_deciders={"review": Decider.RULE}).reply("writer", "hello")
        self.assertEqual(d.run().expect("done").ticks[-2].summary, "review approved by rule")


class Faults(unittest.TestCase):
    def test_a_violation_rolls_the_tick_back_and_stops(self):
        d = Driver(Review, "greet", settings={"limit": 3}).reply("writer", "hello")
        t = d.run().expect("stopped")
        self.assertEqual([v.rows for v in t.violations], [["fact:draft/1"]])
        self.assertIsNone(d.state.fact("draft", "1"))
        self.assertEqual([r.status for r in d.state.ledger_of("write")], ["refused"])

    def test_an_exception_stops_the_run_with_its_traceback(self):
        t = Driver(Review, "crash:next").reply("writer", "hello").run().expect("stopped")
        self.assertEqual(t.fault.message, "KeyError: 'missing'")
        self.assertIn('{}["missing"]', t.fault.traceback)
        self.assertIn("KeyError: 'missing'", t.describe())

    def test_a_refused_result_is_recorded_and_stops_and_a_resume_asks_again(self):
        d = Driver(Review, "human").reply("writer", "?", "hello")
        self.assertIn("refused the result of write: a draft is not a question mark", d.run().expect("stopped").reason)
        d.run().expect("waiting")
        self.assertEqual([r.status for r in d.state.ledger_of("write")], ["refused", "done"])
        self.assertEqual([r.key for r in d.state.ledger_of("write")], ["r1/write#1", "r1/write#2"])

    def test_a_missing_reply_stops_with_what_to_script(self):
        t = Driver(Review, "greet").run().expect("stopped")
        self.assertIn("no reply for role writer turn 0", t.reason)

    def test_a_loop_stops_at_max_ticks(self):
        d = Driver(Review, "greet").reply("writer", *["hi"] * 50).reply("reviewer", *["REJECT: again"] * 50)
        self.assertIn("max_ticks (20) reached", d.run(max_ticks=20).expect("stopped").reason)


class Setup(unittest.TestCase):
    def test_settings_are_checked_against_the_manifest(self):
        with self.assertRaisesRegex(SetupError, "setting 'limit' is integer, not \"3\""):
            Driver(Review, settings={"limit": "3"})
        with self.assertRaisesRegex(SetupError, "setting 'limt' is not one the bundle reads"):
            Driver(Review, settings={"limt": 3})

    def test_a_bad_manifest_is_refused_with_its_problems(self):
        class Bad(Review):
            def manifest(self):
                return super().manifest().step(Step("x", "nowhere"))

        with self.assertRaisesRegex(SetupError, "step 'x' is in phase 'nowhere'"):
            Driver(Bad)


class View(unittest.TestCase):
    def test_outside_a_harness_the_view_says_how_to_get_one(self):
        with self.assertRaisesRegex(RuntimeError, "ScriptedView"):
            view.phase()

    def test_the_bounded_reads(self):
        with ScriptedView() as v:
            v.add_ledger("a"), v.add_ledger("b"), v.add_ledger("a")
            v.open_gate("g", tick=1), v.open_gate("g", tick=2)
            self.assertEqual([r.key for r in view.ledger_of("a")], ["r1/a#1", "r1/a#2"])
            self.assertEqual([r.step for r in view.ledger_last(2)], ["b", "a"])
            self.assertEqual(view.latest_gate("g").id, 2)
            self.assertIsNone(view.latest_gate("h"))


if __name__ == "__main__":
    unittest.main()
