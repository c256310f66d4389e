import unittest

from loom_bundle import Decider, TickToken
from loom_bundle.testing import Driver, ScriptedView

from incident import Incident
from incident.manifest import GATE, RULE_ACCOUNTED, RULE_APPROVAL, RULE_PLAN, RULE_POSTMORTEM
from tests import script as s


def driver(**kw):
    d = Driver(Incident, s.TASK, commands=dict(s.COMMANDS), **kw)
    return d.reply("responder", s.TRIAGE, s.DIAGNOSE)


class MitigationNeedsHumanApproval(unittest.TestCase):
    def test_a_gate_the_config_hands_to_a_rule_is_refused_before_any_command_runs(self):
        d = driver(gate_deciders={GATE: Decider.RULE})
        t = d.run().expect("stopped")
        self.assertEqual([v.rule for v in t.violations], [RULE_APPROVAL])
        self.assertIn("approved by rule `rule`, not by a human", t.violations[0].message)
        self.assertEqual(t.commands, [])
        self.assertEqual(d.state.phase(), "approve", "the decision tick was rolled back")

    def test_an_agent_approval_under_the_autonomous_policy_is_refused_too(self):
        d = driver(policy="autonomous", gate_deciders={GATE: Decider.AGENT}).reply("incident-commander", "APPROVE")
        t = d.run().expect("stopped")
        self.assertEqual([v.rule for v in t.violations], [RULE_APPROVAL])
        self.assertIn("approved by agent", t.violations[0].message)
        self.assertEqual(t.commands, [])

    def test_a_mitigation_command_recorded_without_approval_names_its_ledger_row(self):
        tick = TickToken(1, 9, 0)
        with ScriptedView(phase="verify", tick=9) as v:
            v.open_gate(GATE, tick=5)
            row = v.add_ledger("mitigate", kind="command", summary="`rollback.sh` exited 0")
            violation, unaccounted = Incident().check(tick)
        self.assertEqual(violation.rule, RULE_APPROVAL)
        self.assertEqual(violation.rows, ["gate:5", row.row()])
        self.assertEqual(unaccounted.rule, RULE_ACCOUNTED, "and no `command` fact records it")
        self.assertIn("is pending", violation.message)

    def test_an_approved_gate_lets_the_commands_of_its_plan_run(self):
        tick = TickToken(1, 9, 0)
        with ScriptedView(phase="mitigate", tick=9) as v:
            g = v.open_gate(GATE, tick=5)
            v.decide_gate(g.id, True, Decider.HUMAN, "alice")
            v.put_fact("plan", "1", {"commands": ["rollback"], "gate": g.id, "edited": False})
            row = v.add_ledger("mitigate", kind="command")
            v.put_fact("command", row.key, {"name": "rollback", "step": "mitigate", "round": 1, "exit_code": 0, "tick": 9})
            self.assertEqual(Incident().check(tick), [])
            v.put_fact("command", row.key, {"name": "restart", "step": "mitigate", "round": 1, "exit_code": 0, "tick": 9})
            [violation] = Incident().check(tick)
        self.assertEqual(violation.rule, RULE_PLAN)
        self.assertEqual(violation.rows, [f"fact:command/{row.key}", "fact:plan/1"])


class CommandsAreAccounted(unittest.TestCase):
    def test_a_command_row_without_its_fact_is_named(self):
        with ScriptedView(phase="postmortem", tick=4) as v:
            row = v.add_ledger("verify", kind="command", summary="`./health` exited 0")
            [violation] = Incident().check(TickToken(1, 4, 0))
        self.assertEqual((violation.rule, violation.rows), (RULE_ACCOUNTED, [row.row()]))


class PostmortemNamesEveryCommand(unittest.TestCase):
    def test_a_postmortem_missing_a_command_stops_the_run_and_a_better_one_finishes_it(self):
        d = driver().reply("scribe", s.POSTMORTEM_MISSING_RESTART, s.POSTMORTEM).approve(GATE)
        t = d.run().expect("stopped")
        [v] = t.violations
        self.assertEqual(v.rule, RULE_POSTMORTEM)
        self.assertIn("does not name `restart`", v.message)
        self.assertEqual(v.rows[0], "fact:postmortem/report")
        self.assertIsNone(d.state.fact("postmortem", "report"), "the tick was rolled back")
        # As `loom resume`: the scribe is asked again (its next turn) and names them all.
        self.assertEqual(d.run().expect("done").phases[-1], "done")

    def test_a_name_inside_another_word_does_not_count(self):
        with ScriptedView(phase="done") as v:
            v.put_fact("postmortem", "report", {"text": "we did a pre-restart check"})
            v.put_fact("command", "r1/mitigate#1", {"name": "restart", "step": "mitigate", "round": 1, "exit_code": 0, "tick": 1})
            [violation] = Incident().check(TickToken(1, 2, 0))
        self.assertEqual(violation.rule, RULE_POSTMORTEM)


if __name__ == "__main__":
    unittest.main()
