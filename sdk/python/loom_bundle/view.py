"""The read-only view of the run, as the tick sees it (its own writes included).

Inside loom these functions read through the host; in a native test they read a
`loom_bundle.testing.ScriptedView` (or the harness's state). Lists are ordered: facts by key,
gates and ledger rows oldest first. Prefer the bounded reads (`latest_gate`, `ledger_of`,
`ledger_last`): `gates()` and `ledger()` grow with the run.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator, List, Optional

from .types import Fact, Gate, LedgerEntry, Task

_backend: Any = None


class NoView(RuntimeError):
    pass


def _b() -> Any:
    if _backend is None:
        raise NoView(
            "loom_bundle.view is read inside loom or a test harness only; in a native test, "
            "wrap the call in `with ScriptedView(...):` (loom_bundle.testing) or drive the "
            "bundle with loom_bundle.testing.Driver"
        )
    return _backend


@contextlib.contextmanager
def use(backend: Any) -> Iterator[Any]:
    """Makes `backend` the view for the duration of the block (nests; restores the previous)."""
    global _backend
    previous = _backend
    _backend = backend
    try:
        yield backend
    finally:
        _backend = previous


def task() -> Task:
    return _b().task()


def phase() -> str:
    return _b().phase()


def facts(kind: str) -> List[Fact]:
    """Every fact of `kind`, ordered by key (as strings)."""
    return _b().facts(kind)


def fact(kind: str, key: str) -> Optional[Fact]:
    return _b().fact(kind, key)


def gates() -> List[Gate]:
    """Every opening of every gate, oldest first (grows with the run: prefer `latest_gate`)."""
    return _b().gates()


def latest_gate(name: str) -> Optional[Gate]:
    """The latest opening of gate `name`."""
    return _b().latest_gate(name)


def ledger() -> List[LedgerEntry]:
    """Every ledger row, oldest first (grows with the run: prefer `ledger_of`/`ledger_last`)."""
    return _b().ledger()


def ledger_of(step: str) -> List[LedgerEntry]:
    """The ledger rows of `step`, oldest first."""
    return _b().ledger_of(step)


def ledger_last(limit: int) -> List[LedgerEntry]:
    """The newest `limit` ledger rows, oldest first."""
    return _b().ledger_last(limit)


def setting(key: str) -> Optional[str]:
    """The project's `[bundle]` setting `key` as JSON text, `None` if unset."""
    return _b().setting(key)


# ---- helpers over the reads above ----


def fact_json(kind: str, key: str, default: Any = None) -> Any:
    """Fact `(kind, key)` parsed from JSON, or `default` when there is no such fact. A value
    that is not JSON raises `ValueError` rather than passing for absent."""
    f = fact(kind, key)
    return default if f is None else f.json()


def setting_json(key: str, default: Any = None) -> Any:
    """Setting `key` parsed from JSON, or `default` when the project sets none."""
    text = setting(key)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as e:
        raise ValueError(f"setting {key!r} is not JSON ({e}): {text[:200]!r}") from None
