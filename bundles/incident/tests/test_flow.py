import unittest

from loom_bundle import Decider
from loom_bundle.testing import Driver

from incident import Incident
from incident.manifest import GATE
from tests import script as s


def driver(**kw):
    d = Driver(Incident, s.TASK, commands=dict(s.COMMANDS), **kw)
    return d.reply("responder", s.TRIAGE, s.DIAGNOSE).reply("scribe", s.POSTMORTEM)


class HappyPath(unittest.TestCase):
    def test_it_waits_for_a_human_before_any_mitigation_then_runs_the_plan(self):
        d = driver()
        t = d.run().expect("waiting")
        self.assertEqual(t.waiting_on, GATE)
        self.assertEqual(t.phases, ["triage", "diagnose", "approve"])
        self.assertEqual(t.commands, [], "nothing ran before the approval")
        gate = d.state.latest_gate(GATE)
        self.assertIs(gate.decider, Decider.HUMAN, "high risk: a human decides, whatever the gate's default")
        summary = d.state.summaries[gate.id]
        self.assertIn("- rollback\n- restart", summary)
        self.assertIn("sev1 on checkout", summary)

        t = d.approve(GATE, by="alice").run().expect("done")
        self.assertEqual(t.phases, ["triage", "diagnose", "approve", "mitigate", "verify", "postmortem", "done"])
        self.assertEqual(t.commands, ["rollback", "restart", "health-check"])
        self.assertIn("rollback, restart, health-check", t.reason)
        step, role, prompt = t.prompts[-1]
        self.assertEqual((step, role), ("postmortem", "scribe"))
        self.assertIn("- round 1: `rollback` exited 0\n- round 1: `restart` exited 0", prompt)
        self.assertIn("- health-check\n- restart\n- rollback", prompt)
        self.assertEqual(t.violations, [])

    def test_the_approver_can_edit_the_plan(self):
        d = driver().reply("scribe")
        d.approve(GATE, edited="Run instead:\n- scale-out\n")
        d.replies["scribe"] = ["We ran scale-out and health-check."]
        t = d.run().expect("done")
        self.assertEqual(t.commands, ["scale-out", "health-check"])
        self.assertTrue(d.state.fact("plan", "1").json()["edited"])

    def test_an_edit_naming_an_unknown_command_is_refused_and_the_gate_stays_open(self):
        d = driver().approve(GATE, edited="- drop-database\n")
        t = d.run().expect("waiting")
        self.assertEqual(t.refusals, [(GATE, "the edited plan names 'drop-database', which is not a mitigation command (they are: rollback, restart, scale-out)")])
        self.assertEqual(d.state.latest_gate(GATE).status.value, "pending", "nothing of the decision was recorded")
        self.assertEqual(t.commands, [])
        self.assertEqual(d.approve(GATE).run().expect("done").commands, ["rollback", "restart", "health-check"])


class Rounds(unittest.TestCase):
    def test_a_rejected_plan_goes_back_to_diagnosis_with_the_reason(self):
        d = driver().reject(GATE, "a rollback loses the new tax rules; scale out first")
        d.reply("responder", s.DIAGNOSE_AGAIN)
        d.replies["scribe"] = ["We ran scale-out; health-check passed."]
        t = d.run().expect("waiting")
        self.assertEqual(t.phases, ["triage", "diagnose", "approve", "diagnose", "approve"])
        _, _, prompt = t.prompts[-1]
        self.assertIn("This is diagnosis round 2", prompt)
        self.assertIn("- round 1: tester rejected the plan: a rollback loses the new tax rules", prompt)
        t = d.approve(GATE).run().expect("done")
        self.assertEqual(t.commands, ["scale-out", "health-check"])

    def test_a_failing_health_check_starts_another_round_and_the_last_one_fails_the_run(self):
        d = driver(settings={"max-rounds": 2})
        d.command("health-check", 1, "checkout: 31% errors").command("health-check", 1, "checkout: 12% errors")
        d.reply("responder", s.DIAGNOSE_AGAIN).approve(GATE).approve(GATE)
        t = d.run().expect("failed")
        self.assertEqual(t.commands, ["rollback", "restart", "health-check", "scale-out", "health-check"])
        self.assertIn("not mitigated after 2 round(s)", t.reason)
        self.assertIn("12% errors", t.reason)
        _, _, prompt = t.prompts[-1]
        self.assertIn("- round 1: `health-check` still failed after the mitigation (exit 1): checkout: 31% errors", prompt)
        self.assertEqual(t.phases[-1], "failed")

    def test_a_failing_mitigation_ends_the_round_without_running_the_rest(self):
        d = driver(settings={"max-rounds": 1}).command("rollback", 2, "no previous release")
        t = d.approve(GATE).run().expect("failed")
        self.assertEqual(t.commands, ["rollback"])
        self.assertIn("mitigation `rollback` failed (exit 2): no previous release", t.reason)


class Replies(unittest.TestCase):
    def test_a_triage_reply_that_is_not_json_is_refused_and_asked_again_on_resume(self):
        d = Driver(Incident, s.TASK, commands=dict(s.COMMANDS))
        d.reply("responder", "It looks bad.", s.TRIAGE, s.DIAGNOSE)
        d.run().expect("stopped")
        t = d.run().expect("waiting")
        self.assertEqual(t.refusals[0][0], "triage")
        self.assertIn("holds no JSON object", t.refusals[0][1])
        self.assertEqual([r.status for r in d.state.ledger_of("triage")], ["refused", "done"])

    def test_a_plan_naming_an_unknown_command_is_refused(self):
        d = Driver(Incident, s.TASK, commands=dict(s.COMMANDS))
        d.reply("responder", s.TRIAGE, '{"cause": "x", "plan": ["reboot-the-world"]}')
        t = d.run(max_ticks=4)
        self.assertIn("'reboot-the-world', which is not a mitigation command", t.refusals[0][1])

    def test_the_project_must_configure_every_command_it_runs(self):
        from loom_bundle.testing import SetupError

        with self.assertRaisesRegex(SetupError, "runs command 'scale-out'"):
            Driver(Incident, s.TASK, commands={"rollback": 0, "restart": 0, "health-check": 0})
        with self.assertRaisesRegex(SetupError, "setting 'max-round' is not one the bundle reads"):
            Driver(Incident, s.TASK, commands=dict(s.COMMANDS), settings={"max-round": 3})


if __name__ == "__main__":
    unittest.main()
