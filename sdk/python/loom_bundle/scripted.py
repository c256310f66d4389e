"""`ScriptedView`, a test double of `loom_bundle.view` (see `loom_bundle.testing`)."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

from . import view
from .types import Decider, Fact, Gate, GateStatus, LedgerEntry, Task, to_json


class ScriptedView:
    """A run's state as the view shows it. Facts are given as `{(kind, key): value}` with any
    JSON-serialisable value (or a `Fact`); settings as `{key: value}`."""

    def __init__(
        self,
        task: str = "a task",
        phase: str = "",
        facts: Optional[Dict[Tuple[str, str], Any]] = None,
        gates: Optional[List[Gate]] = None,
        ledger: Optional[List[LedgerEntry]] = None,
        settings: Optional[Dict[str, Any]] = None,
        task_id: int = 1,
        tick: int = 1,
    ) -> None:
        self.task_info = Task(task_id, task)
        self.current_phase = phase
        self.fact_rows: Dict[Tuple[str, str], Fact] = {}
        self.gate_rows: List[Gate] = list(gates or [])
        self.summaries: Dict[int, str] = {}
        self.ledger_rows: List[LedgerEntry] = list(ledger or [])
        self.settings: Dict[str, str] = {k: to_json(v) for k, v in (settings or {}).items()}
        self.tick = tick
        for (kind, key), value in (facts or {}).items():
            if isinstance(value, Fact):
                self.fact_rows[(kind, key)] = value
            else:
                self.put_fact(kind, key, value)
        self._installed: List[Any] = []

    # ---- writing the scripted state ----

    def put_fact(self, kind: str, key: str, value: Any, tick: Optional[int] = None) -> Fact:
        f = Fact(kind, key, to_json(value), self.tick if tick is None else tick)
        self.fact_rows[(kind, key)] = f
        return f

    def put_fact_text(self, kind: str, key: str, text: str) -> Fact:
        """A fact whose stored text is exactly `text` (e.g. to test a value that is not JSON)."""
        f = Fact(kind, key, text, self.tick)
        self.fact_rows[(kind, key)] = f
        return f

    def drop_fact(self, kind: str, key: str) -> None:
        self.fact_rows.pop((kind, key), None)

    def open_gate(self, name: str, decider: Decider = Decider.HUMAN, summary: str = "", tick: Optional[int] = None) -> Gate:
        seq = self.tick if tick is None else tick
        g = Gate(seq, name, GateStatus.PENDING, decider, seq)
        self.gate_rows.append(g)
        self.summaries[g.id] = summary
        return g

    def decide_gate(self, gate_id: int, approved: bool, decider: Decider, by: str, note: Optional[str] = None) -> Gate:
        for i, g in enumerate(self.gate_rows):
            if g.id == gate_id:
                status = GateStatus.APPROVED if approved else GateStatus.REJECTED
                self.gate_rows[i] = Gate(g.id, g.name, status, decider, g.opened_tick, by, note)
                return self.gate_rows[i]
        raise KeyError(f"no gate opening #{gate_id}")

    def add_ledger(
        self,
        step: str,
        kind: str = "agent",
        status: str = "done",
        summary: str = "",
        key: Optional[str] = None,
        attempt: int = 1,
        tick: Optional[int] = None,
        run: int = 1,
    ) -> LedgerEntry:
        if key is None:
            n = len({r.key for r in self.ledger_rows if r.step == step and r.status in ("done", "refused")})
            key = f"r{run}/{step}#{n + 1}"
        row = LedgerEntry(key, step, kind, attempt, status, summary, self.tick if tick is None else tick)
        self.ledger_rows.append(row)
        return row

    def set_status(self, key: str, attempt: int, status: str) -> None:
        for i, r in enumerate(self.ledger_rows):
            if r.key == key and r.attempt == attempt:
                self.ledger_rows[i] = LedgerEntry(r.key, r.step, r.kind, r.attempt, status, r.summary, r.tick)

    def copy(self) -> "ScriptedView":
        c = copy.copy(self)
        c.fact_rows = dict(self.fact_rows)
        c.gate_rows = list(self.gate_rows)
        c.summaries = dict(self.summaries)
        c.ledger_rows = list(self.ledger_rows)
        c.settings = dict(self.settings)
        c._installed = []
        return c

    # ---- `with view:` makes it the view ----

    def __enter__(self) -> "ScriptedView":
        cm = view.use(self)
        cm.__enter__()
        self._installed.append(cm)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._installed.pop().__exit__(*exc)

    # ---- the view's reads ----

    def task(self) -> Task:
        return self.task_info

    def phase(self) -> str:
        return self.current_phase

    def facts(self, kind: str) -> List[Fact]:
        return [f for (k, _), f in sorted(self.fact_rows.items()) if k == kind]

    def fact(self, kind: str, key: str) -> Optional[Fact]:
        return self.fact_rows.get((kind, key))

    def gates(self) -> List[Gate]:
        return list(self.gate_rows)

    def latest_gate(self, name: str) -> Optional[Gate]:
        return next((g for g in reversed(self.gate_rows) if g.name == name), None)

    def ledger(self) -> List[LedgerEntry]:
        return list(self.ledger_rows)

    def ledger_of(self, step: str) -> List[LedgerEntry]:
        return [r for r in self.ledger_rows if r.step == step]

    def ledger_last(self, limit: int) -> List[LedgerEntry]:
        return list(self.ledger_rows[-limit:]) if limit > 0 else []

    def setting(self, key: str) -> Optional[str]:
        return self.settings.get(key)
