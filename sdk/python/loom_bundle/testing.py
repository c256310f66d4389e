"""Testing a bundle natively, with plain `python -m unittest`: no wasm, no project, no loom.

- `ScriptedView` is a test double of `loom_bundle.view`: a run's state you write down, which a
  `with` block makes the view, to call `next`, `apply` or `check` on it directly.
- `Driver` runs a bundle tick by tick as loom does, against scripted agent replies, command
  results and gate decisions, and records the phases it went through (`Trace`).
"""

from .harness import Driver, SetupError, TickRecord, Trace
from .scripted import ScriptedView

__all__ = ["ScriptedView", "Driver", "SetupError", "Trace", "TickRecord"]
