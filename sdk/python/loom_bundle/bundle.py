"""The classes an author subclasses, and how each call's result or exception is handed back.

Every call into a bundle goes through `call_*` below, inside loom and in the test harness
alike: an exception anywhere in the author's code becomes a `Failure` with its message and
traceback (loom shows both and stops the run), `refuse(reason)` inside `apply` becomes the
contract's `refused` error, and a return value of the wrong type is a failure that says what
was expected.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any, List, NoReturn, Optional, Tuple, Union

from . import view
from .manifest import Manifest
from .types import (
    AgentReply,
    Change,
    CommandResult,
    DiffResult,
    GateDecision,
    NextStep,
    Outcome,
    TickToken,
    Violation,
)

# Kept below loom's limits on a fault's text, so a long traceback is cut here (its end, where
# the exception was raised, is what is kept) rather than becoming a limit fault of its own.
MESSAGE_CHARS_MAX = 4_000
TRACEBACK_CHARS_MAX = 16_000
LINE_CHARS_MAX = 1_000


class Refused(Exception):
    """Raised by `refuse`: `apply` does not accept this outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = str(reason)


def refuse(reason: str) -> NoReturn:
    """Refuses the outcome `apply` was given (a reply in the wrong format, an edit that makes
    no sense). An effect's result is recorded as refused and the run stops with `reason`; for
    a person's gate decision nothing is recorded and they are told `reason`."""
    raise Refused(reason)


@dataclass(frozen=True)
class Failure:
    """The bundle's own code failed: an exception (a bug in the bundle)."""

    message: str
    traceback: Optional[str] = None

    def __str__(self) -> str:
        return self.message if not self.traceback else f"{self.message}\n{self.traceback}"


class Bundle:
    """A bundle: subclass it and implement `manifest`, `next`, `apply` and (if it has rules)
    `check`. An instance is created for every call and keeps nothing between calls: anything to
    remember is a fact."""

    def manifest(self) -> Manifest:
        raise NotImplementedError("a Bundle implements manifest()")

    def next(self, tick: TickToken) -> NextStep:
        raise NotImplementedError("a Bundle implements next(tick)")

    def apply(self, tick: TickToken, step: str, outcome: Outcome) -> List[Change]:
        raise NotImplementedError("a Bundle implements apply(tick, step, outcome)")

    def check(self, tick: TickToken) -> List[Violation]:
        return []

    def setting(self, key: str) -> Any:
        """Setting `key` parsed from JSON, or the default the manifest declares. A key the
        manifest does not declare is an error, so a misspelling fails loudly."""
        decl = self.manifest().find_setting(key)
        if decl is None:
            raise KeyError(f"setting {key!r} is not declared in the manifest; declare it with Manifest.setting(...)")
        text = view.setting(key)
        if text is None:
            if decl.default is None:
                raise KeyError(f"setting {key!r} is required and the project does not set it")
            return decl.default
        try:
            return json.loads(text)
        except ValueError as e:
            raise ValueError(f"setting {key!r} is not JSON ({e}): {text[:200]!r}") from None


class Rules:
    """Rules alone (the `invariants` world), for `loom replay --invariants`: implement
    `check`."""

    def check(self, tick: TickToken) -> List[Violation]:
        raise NotImplementedError("a Rules set implements check(tick)")


# ---- the calls ----

# Each call_* returns ("ok", value), ("failed", Failure) or, from apply only, ("refused", str).


def failure_of(e: BaseException) -> Failure:
    message = _cut(_exception_only(e), MESSAGE_CHARS_MAX)
    # Each line is cut (an exception's text can be huge), then the middle of the whole: the
    # first frames say where the call came in, the last ones where it raised.
    lines = [_cut(line, LINE_CHARS_MAX) for line in format_exception(e)]
    tb = "".join(lines)
    if len(tb) > TRACEBACK_CHARS_MAX:
        head, tail = TRACEBACK_CHARS_MAX // 4, TRACEBACK_CHARS_MAX * 3 // 4
        tb = f"{tb[:head]}\n… ({len(tb) - head - tail} characters cut) …\n{tb[-tail:]}"
    return Failure(message, tb)


def format_exception(e: BaseException) -> List[str]:
    """The classic traceback text of `e` and the exceptions it was raised from or during.

    Written out here rather than by `traceback.format_exception`: CPython 3.13+ also draws
    carets under the failing expression, and inside the component that code path traps (the
    exception and its message would be lost); the plain format reads only frames and the
    source lines cached at build time."""
    chain: List[BaseException] = []
    cur: Optional[BaseException] = e
    while cur is not None and all(cur is not c for c in chain) and len(chain) < 20:
        chain.append(cur)
        cur = cur.__cause__ if cur.__cause__ is not None else (None if cur.__suppress_context__ else cur.__context__)
    out: List[str] = []
    for i, exc in enumerate(reversed(chain)):
        if i:
            direct = exc.__cause__ is not None
            out.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if direct
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        if exc.__traceback__ is not None:
            out.append("Traceback (most recent call last):\n")
            for fs in traceback.extract_tb(exc.__traceback__):
                out.append(f'  File "{fs.filename}", line {fs.lineno}, in {fs.name}\n')
                if fs.line:
                    out.append(f"    {fs.line.strip()}\n")
        out.append(_exception_only(exc) + "\n")
    return out


def _exception_only(e: BaseException) -> str:
    t = type(e)
    name = t.__qualname__ if t.__module__ in ("builtins", "__main__") else f"{t.__module__}.{t.__qualname__}"
    try:
        text = str(e)
    except Exception:  # noqa: BLE001 -- a broken __str__ must not hide the exception
        text = "<exception str() failed>"
    return f"{name}: {text}" if text else name


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrong(what: str, got: Any, want: str) -> Failure:
    return Failure(f"{what} returned {type(got).__name__} {_short(got)}; it returns {want}")


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 200 else r[:199] + "…"


def _run(fn: Any, *args: Any) -> Tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Refused as r:
        return "refused", r.reason
    except BaseException as e:  # noqa: B902 -- every exception is the bundle's failure, by design
        # The traceback starts at the author's code: this frame is the SDK's, the same every time.
        tb = e.__traceback__
        return "failed", failure_of(e.with_traceback(tb.tb_next if tb is not None and tb.tb_next is not None else tb))


def call_manifest(bundle: Bundle) -> Tuple[str, Any]:
    kind, v = _run(bundle.manifest)
    if kind == "refused":
        return "failed", Failure(f"refuse() is for apply only; manifest() called it: {v}")
    if kind == "ok" and not isinstance(v, Manifest):
        return "failed", _wrong("manifest()", v, "a Manifest")
    return kind, v


def call_next(bundle: Bundle, tick: TickToken) -> Tuple[str, Any]:
    kind, v = _run(bundle.next, tick)
    if kind == "refused":
        return "failed", Failure(f"refuse() is for apply only; next() called it: {v}")
    if kind == "ok" and not isinstance(v, NextStep):
        return "failed", _wrong("next()", v, "a NextStep (NextStep.agent(...), .command(...), .gate(...), .finish(...))")
    return kind, v


def call_apply(bundle: Bundle, tick: TickToken, step: str, outcome: Outcome) -> Tuple[str, Any]:
    if not isinstance(outcome, (AgentReply, DiffResult, CommandResult, GateDecision)):
        return "failed", Failure(f"apply() was handed {_short(outcome)}, which is not an outcome")
    kind, v = _run(bundle.apply, tick, step, outcome)
    if kind == "ok":
        if not isinstance(v, (list, tuple)):
            return "failed", _wrong("apply()", v, "a list of Change (Change.phase(...), .put_fact(...), ...)")
        for c in v:
            if not isinstance(c, Change):
                return "failed", _wrong("apply() in its list", c, "Change values only")
        v = list(v)
    return kind, v


def call_check(rules: Union[Bundle, Rules], tick: TickToken) -> Tuple[str, Any]:
    kind, v = _run(rules.check, tick)
    if kind == "refused":
        return "failed", Failure(f"refuse() is for apply only; check() called it: {v}")
    if kind == "ok":
        if not isinstance(v, (list, tuple)):
            return "failed", _wrong("check()", v, "a list of Violation")
        for x in v:
            if not isinstance(x, Violation):
                return "failed", _wrong("check() in its list", x, "Violation values only")
        v = list(v)
    return kind, v
