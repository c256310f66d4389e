"""The incident runbook as a loom bundle."""

from loom_bundle import Bundle

from . import flow, rules
from .manifest import manifest


class Incident(Bundle):
    """triage → diagnose → approve (a human, high risk) → mitigate → verify → postmortem."""

    def manifest(self):
        return manifest()

    def next(self, tick):
        return flow.next_step(self.setting("max-rounds"))

    def apply(self, tick, step, outcome):
        return flow.apply_outcome(tick, step, outcome, self.setting("max-rounds"))

    def check(self, tick):
        return rules.check(tick)
