"""The demo's scripted replies, shared by the tests (and the same as demo/replies.toml)."""

import json

TASK = "Checkout returns HTTP 500 for a third of requests since the 14:02 deploy"

TRIAGE = json.dumps({"severity": "sev1", "service": "checkout", "impact": "a third of checkouts fail with HTTP 500"})
DIAGNOSE = json.dumps({"cause": "the 14:02 deploy exhausts the payment client's connection pool", "plan": ["rollback", "restart"]})
DIAGNOSE_AGAIN = "```json\n" + json.dumps({"cause": "the pool is too small for the load", "plan": ["scale-out"]}) + "\n```"
POSTMORTEM = """# Postmortem: checkout HTTP 500s

The 14:02 deploy exhausted the payment client's connection pool. We ran `rollback` to the
previous release and `restart` to clear the stuck connections; `health-check` then passed.
"""
POSTMORTEM_MISSING_RESTART = "# Postmortem\n\nWe ran `rollback`; `health-check` passed.\n"

COMMANDS = {"rollback": 0, "restart": 0, "scale-out": 0, "health-check": 0}
