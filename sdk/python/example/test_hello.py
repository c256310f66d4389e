"""Run with `python -m unittest` from this directory (the SDK on PYTHONPATH)."""

import unittest

from loom_bundle.testing import Driver, ScriptedView

from hello import Hello


class HelloTest(unittest.TestCase):
    def test_a_greeting_is_drafted_approved_and_sent(self):
        d = Driver(Hello, "the loom team").reply("writer", "Hello, loom team!")
        t = d.run().expect("waiting")
        self.assertEqual(t.waiting_on, "approve")
        self.assertIn("the loom team", t.prompts[0][2])
        t = d.approve("approve").run().expect("done")
        self.assertEqual(t.phases, ["draft", "approve", "done"])

    def test_a_rejected_greeting_fails_the_run(self):
        d = Driver(Hello, "x").reply("writer", "Hi").reject("approve", "too short")
        self.assertEqual(d.run().expect("failed").phases, ["draft", "approve", "failed"])

    def test_the_rule_names_an_empty_greeting(self):
        with ScriptedView(phase="approve", facts={("greeting", "text"): {"text": ""}}):
            [v] = Hello().check(None)
        self.assertEqual(v.rows, ["fact:greeting/text"])


if __name__ == "__main__":
    unittest.main()
