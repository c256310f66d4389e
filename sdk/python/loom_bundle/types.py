"""The contract's records as plain Python values (`loom:bundle@0.2.0`, see `wit/bundle.wit`).

These are the SDK's own classes, not the bindings componentize-py generates: they exist
natively too, so a bundle's logic runs and is tested with plain `python -m unittest`. Inside the
component, `loom_bundle._guest` converts between them and the bindings at the boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional, Union


class Decider(Enum):
    """Who decides a gate."""

    HUMAN = "human"
    AGENT = "agent"
    RULE = "rule"


class Risk(Enum):
    """How much is at stake at a gate; the policy dial reads it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class GateStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ParamType(Enum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    TEXT_LIST = "text-list"


# ---- what the view shows ----


@dataclass(frozen=True)
class TickToken:
    """The one timestamp of a tick: anything needing a time or an id takes it from here."""

    run: int
    seq: int
    unix_ms: int


@dataclass(frozen=True)
class Task:
    id: int
    title: str


@dataclass(frozen=True)
class Fact:
    """A bundle-defined record `(kind, key)`, its value JSON text; `tick` last wrote it."""

    kind: str
    key: str
    value: str
    tick: int

    def json(self) -> Any:
        """The value parsed; a value that is not JSON raises `ValueError` naming the fact."""
        try:
            return json.loads(self.value)
        except ValueError as e:
            raise ValueError(f"fact {self.kind}/{self.key} is not JSON ({e}): {self.value[:200]!r}") from None

    def row(self) -> str:
        """`"fact:kind/key"`, how a violation names this row."""
        return f"fact:{self.kind}/{self.key}"


@dataclass(frozen=True)
class Gate:
    """One opening of a gate (a gate can open several times in a run)."""

    id: int
    name: str
    status: GateStatus
    decider: Decider
    opened_tick: int
    decided_by: Optional[str] = None
    note: Optional[str] = None

    @property
    def approved(self) -> bool:
        return self.status is GateStatus.APPROVED

    def row(self) -> str:
        """`"gate:<id>"`, how a violation names this row."""
        return f"gate:{self.id}"


@dataclass(frozen=True)
class LedgerEntry:
    """A summary of one ledger row: one attempt at one effect (`tick` is the tick's seq)."""

    key: str
    step: str
    kind: str
    attempt: int
    status: str
    summary: str
    tick: int

    def row(self) -> str:
        """`"ledger:<key>#<attempt>"`, how a violation names this row."""
        return f"ledger:{self.key}#{self.attempt}"


# ---- what comes next ----

ArgValue = Union[str, int, bool, list]


@dataclass(frozen=True)
class Arg:
    """A named template argument. `value` is a `str`, `int`, `bool` or list of `str`; the
    contract's type is taken from the Python type (`bool` before `int`)."""

    name: str
    value: ArgValue

    def __post_init__(self) -> None:
        v = self.value
        ok = isinstance(v, (str, int, bool)) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        if not ok:
            raise TypeError(
                f"template argument {self.name!r} is a {type(v).__name__}; "
                "use a str, an int, a bool or a list of str"
            )


@dataclass(frozen=True)
class AgentCall:
    """Ask an agent in `role` with `template` rendered from `args`."""

    role: str
    template: str
    args: list
    edits_tree: bool = False


@dataclass(frozen=True)
class ApplyDiffCall:
    """Apply the unified diff in the text result of ledger entry `source_key`."""

    source_key: str


@dataclass(frozen=True)
class CommandCall:
    """Run the command the project configured under `name`."""

    name: str
    retry_safe: bool


Effect = Union[AgentCall, ApplyDiffCall, CommandCall]


class NextStep:
    """What `Bundle.next` returns: `EffectStep`, `GateStep`, `Finish` or `Fail`, built with
    `NextStep.agent / command / apply_diff / gate / finish / fail`."""


@dataclass(frozen=True)
class EffectStep(NextStep):
    step: str
    effect: Effect


@dataclass(frozen=True)
class GateStep(NextStep):
    gate: str
    summary: str
    require_human: bool = False


@dataclass(frozen=True)
class Finish(NextStep):
    summary: str


@dataclass(frozen=True)
class Fail(NextStep):
    reason: str


# The constructors are attached after the variants exist: as class attributes of the base
# during the variants' definition, dataclass would take them for field defaults.
class _NextStepConstructors:
    @staticmethod
    def agent(step: str, role: str, template: str, args: Any = (), edits_tree: bool = False) -> "EffectStep":
        """An agent call. `args` is a dict `{name: value}` or a list of `Arg`."""
        return EffectStep(step, AgentCall(role, template, _args(args), edits_tree))

    @staticmethod
    def command(step: str, name: str, retry_safe: bool) -> "EffectStep":
        """Run project command `name`; `retry_safe` when running it twice is harmless
        (otherwise a run interrupted during it is held for a human)."""
        return EffectStep(step, CommandCall(name, retry_safe))

    @staticmethod
    def apply_diff(step: str, source_key: str) -> "EffectStep":
        return EffectStep(step, ApplyDiffCall(source_key))

    @staticmethod
    def gate(gate: str, summary: str, require_human: bool = False) -> "GateStep":
        """Open gate `gate`, showing `summary`; `require_human` overrides the policy."""
        return GateStep(gate, summary, require_human)

    @staticmethod
    def finish(summary: str) -> "Finish":
        return Finish(summary)

    @staticmethod
    def fail(reason: str) -> "Fail":
        return Fail(reason)


for _name in ('agent', 'command', 'apply_diff', 'gate', 'finish', 'fail'):
    setattr(NextStep, _name, _NextStepConstructors.__dict__[_name])


def _args(args: Any) -> list:
    if isinstance(args, dict):
        return [Arg(k, v) for k, v in args.items()]
    out = list(args)
    for a in out:
        if not isinstance(a, Arg):
            raise TypeError(f"template arguments are a dict or a list of Arg, not a list holding {a!r}")
    return out


# ---- outcomes handed to `apply` ----


@dataclass(frozen=True)
class AgentReply:
    text: str
    touched: list = field(default_factory=list)
    diff_hash: Optional[str] = None


@dataclass(frozen=True)
class DiffResult:
    applied: bool
    diff_hash: str
    touched: list = field(default_factory=list)
    error: Optional[str] = None


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output_tail: str = ""


@dataclass(frozen=True)
class GateDecision:
    gate: str
    approved: bool
    decider: Decider
    by: str
    note: Optional[str] = None
    #: for an editable gate approved with edits: the text that replaces the summary
    edited: Optional[str] = None


Outcome = Union[AgentReply, DiffResult, CommandResult, GateDecision]


# ---- changes `apply` returns ----


class Change:
    """What `Bundle.apply` returns a list of: `SetPhase`, `PutFact`, `DropFact` or `Note`,
    built with `Change.phase / put_fact / drop_fact / note`."""


@dataclass(frozen=True)
class SetPhase(Change):
    phase: str


@dataclass(frozen=True)
class PutFact(Change):
    kind: str
    key: str
    value: str


@dataclass(frozen=True)
class DropFact(Change):
    kind: str
    key: str


@dataclass(frozen=True)
class Note(Change):
    text: str


class _ChangeConstructors:
    @staticmethod
    def phase(phase: str) -> "SetPhase":
        return SetPhase(phase)

    @staticmethod
    def put_fact(kind: str, key: str, value: Any) -> "PutFact":
        """Write fact `(kind, key)`; `value` is any JSON-serialisable value, stored as compact
        JSON with sorted keys so the same value is always the same text."""
        return PutFact(kind, key, to_json(value))

    @staticmethod
    def drop_fact(kind: str, key: str) -> "DropFact":
        return DropFact(kind, key)

    @staticmethod
    def note(text: str) -> "Note":
        return Note(text)


for _name in ('phase', 'put_fact', 'drop_fact', 'note'):
    setattr(Change, _name, _ChangeConstructors.__dict__[_name])


def to_json(value: Any) -> str:
    """The JSON text the SDK stores: compact, sorted keys, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---- rules ----


@dataclass(frozen=True)
class Violation:
    """A broken rule: which, why, and the rows that broke it (`Fact.row()`, `Gate.row()`…)."""

    rule: str
    message: str
    rows: list = field(default_factory=list)
