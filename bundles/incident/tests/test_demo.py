"""The demo's scripted replies and settings (demo/) carry the runbook from triage to done."""

import tomllib
import unittest
from pathlib import Path

from loom_bundle.testing import Driver

from incident import Incident
from incident.manifest import GATE

DEMO = Path(__file__).resolve().parents[1] / "demo"


class Demo(unittest.TestCase):
    def test_the_demo_replies_run_to_done(self):
        config = tomllib.loads((DEMO / "loom.toml").read_text())
        script = tomllib.loads((DEMO / "replies.toml").read_text())
        d = Driver(Incident, "Checkout returns HTTP 500 since the 14:02 deploy", settings=config["bundle"], commands={name: 0 for name in config["commands"]})
        for r in script["reply"]:
            d.reply(r["role"], r["text"])
        d.run().expect("waiting")
        t = d.approve(GATE, by="alice").run().expect("done")
        self.assertEqual(t.commands, ["rollback", "restart", "health-check"])
        self.assertEqual(sorted(config["commands"]), sorted(Incident().manifest().commands))


if __name__ == "__main__":
    unittest.main()
