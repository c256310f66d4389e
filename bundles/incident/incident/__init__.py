"""An incident-response runbook for loom, written in Python on loom_bundle."""

from .bundle import Incident

__all__ = ["Incident"]
