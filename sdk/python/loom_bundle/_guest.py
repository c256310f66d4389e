"""The glue inside the component: the SDK's values to and from componentize-py's bindings.

Only the entry module `loom_bundle.build` generates imports this, inside componentize-py, where
`wit_world` (the bindings of `loom:bundle@0.2.0`) exists. Each export runs the author's code
through `loom_bundle.bundle.call_*` and converts the result; anything that goes wrong, in the
author's code or in converting what it returned, is raised as the contract's typed error
(`failure`, or `apply-error.refused`), never left to trap: a trap loses the message.
"""

from __future__ import annotations

import linecache
import sys
from typing import Any, Tuple

from componentize_py_types import Err  # type: ignore[import-not-found]
from wit_world import exports as wexports  # type: ignore[import-not-found]
from wit_world.imports import log as wlog  # type: ignore[import-not-found]
from wit_world.imports import types as w  # type: ignore[import-not-found]
from wit_world.imports import view as wview  # type: ignore[import-not-found]

from . import bundle as b
from . import log, view
from .manifest import Manifest
from .types import (
    AgentCall,
    AgentReply,
    ApplyDiffCall,
    CommandCall,
    CommandResult,
    Decider,
    DiffResult,
    DropFact,
    EffectStep,
    Fact,
    Fail,
    Finish,
    Gate,
    GateDecision,
    GateStatus,
    GateStep,
    LedgerEntry,
    Note,
    PutFact,
    SetPhase,
    Task,
    TickToken,
)

S64 = (-(2**63), 2**63 - 1)


def _s(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{what} is {type(v).__name__} {v!r:.80}, not str")
    return v


def _os(v: Any, what: str) -> Any:
    return None if v is None else _s(v, what)


def _bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{what} is {type(v).__name__} {v!r:.80}, not bool")
    return v


def _strs(v: Any, what: str) -> list:
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"{what} is {type(v).__name__}, not a list of str")
    return [_s(x, f"an item of {what}") for x in v]


# ---- SDK -> bindings ----


def manifest_out(m: Manifest) -> Any:
    steps = [w.StepDecl(_s(s.name, "a step's name"), _s(s.phase, f"step {s.name}'s phase"), _os(s.role, "a role"), _os(s.template, "a template"), _s(s.doc, "a doc")) for s in m.steps]
    gates = [w.GateDecl(_s(g.name, "a gate's name"), w.Decider[g.decider.name], w.Risk[g.risk.name], _os(g.role, "a role"), _bool(g.editable, "editable"), _s(g.doc, "a doc")) for g in m.gates]
    rules = [w.RuleDecl(_s(r.id, "a rule's id"), _s(r.doc, "a doc")) for r in m.rules]
    templates = [
        w.Template(_s(t.id, "a template's id"), [w.Param(_s(p.name, "a parameter's name"), w.ParamType[p.type.name], _bool(p.required, "required"), _s(p.doc, "a doc")) for p in t.params], _s(t.body, f"template {t.id}'s body"))
        for t in m.templates
    ]
    settings = [w.SettingDecl(_s(s.key, "a setting's key"), w.ParamType[s.type.name], s.default_json(), _s(s.doc, "a doc")) for s in m.settings]
    needs = w.Needs(_strs(m.commands, "the needed commands"), settings)
    return w.Manifest(_s(m.name, "the name"), _s(m.version, "the version"), _strs(m.phase_names, "the phases"), steps, gates, rules, templates, needs)


def _arg_value(v: Any, name: str) -> Any:
    if isinstance(v, bool):
        return w.ArgValue_Boolean(v)
    if isinstance(v, int):
        if not S64[0] <= v <= S64[1]:
            raise OverflowError(f"template argument {name!r} = {v} does not fit in 64 bits")
        return w.ArgValue_Integer(v)
    if isinstance(v, str):
        return w.ArgValue_Text(v)
    return w.ArgValue_TextList(_strs(v, f"template argument {name!r}"))


def next_out(n: Any) -> Any:
    if isinstance(n, EffectStep):
        e = n.effect
        if isinstance(e, AgentCall):
            args = [w.Arg(_s(a.name, "an argument's name"), _arg_value(a.value, a.name)) for a in e.args]
            eff = w.Effect_Agent(w.AgentCall(_s(e.role, "the role"), _s(e.template, "the template"), args, _bool(e.edits_tree, "edits_tree")))
        elif isinstance(e, CommandCall):
            eff = w.Effect_Command(w.CommandCall(_s(e.name, "the command's name"), _bool(e.retry_safe, "retry_safe")))
        elif isinstance(e, ApplyDiffCall):
            eff = w.Effect_ApplyDiff(w.ApplyDiffCall(_s(e.source_key, "source_key")))
        else:
            raise TypeError(f"the effect of step {n.step!r} is {e!r:.80}, not an AgentCall, CommandCall or ApplyDiffCall")
        return w.NextStep_Effect(w.EffectStep(_s(n.step, "the step's name"), eff))
    if isinstance(n, GateStep):
        return w.NextStep_Gate(w.GateStep(_s(n.gate, "the gate's name"), _s(n.summary, f"gate {n.gate}'s summary"), _bool(n.require_human, "require_human")))
    if isinstance(n, Finish):
        return w.NextStep_Finish(_s(n.summary, "the finish text"))
    if isinstance(n, Fail):
        return w.NextStep_Fail(_s(n.reason, "the fail reason"))
    raise TypeError(f"next() returned {n!r:.80}, which is not a NextStep")


def change_out(c: Any) -> Any:
    if isinstance(c, SetPhase):
        return w.Change_Phase(_s(c.phase, "a phase"))
    if isinstance(c, PutFact):
        return w.Change_PutFact(w.FactWrite(_s(c.kind, "a fact's kind"), _s(c.key, "a fact's key"), _s(c.value, "a fact's value")))
    if isinstance(c, DropFact):
        return w.Change_DropFact(w.FactRef(_s(c.kind, "a fact's kind"), _s(c.key, "a fact's key")))
    if isinstance(c, Note):
        return w.Change_Note(_s(c.text, "a note"))
    raise TypeError(f"apply() returned {c!r:.80}, which is not a Change")


def violation_out(v: Any) -> Any:
    return w.Violation(_s(v.rule, "a violation's rule"), _s(v.message, "a violation's message"), _strs(v.rows, "a violation's rows"))


def failure_out(f: b.Failure) -> Any:
    return w.Failure(f.message, f.traceback)


# ---- bindings -> SDK ----


def tick_in(t: Any) -> TickToken:
    return TickToken(t.run, t.seq, t.unix_ms)


def outcome_in(o: Any) -> Any:
    v = o.value
    if isinstance(o, w.Outcome_Agent):
        return AgentReply(v.text, list(v.touched), v.diff_hash)
    if isinstance(o, w.Outcome_Diff):
        return DiffResult(v.applied, v.diff_hash, list(v.touched), v.error)
    if isinstance(o, w.Outcome_Command):
        return CommandResult(v.exit_code, v.output_tail)
    return GateDecision(v.gate, v.approved, Decider[v.decider.name], v.by, v.note, v.edited)


def _fact(f: Any) -> Fact:
    return Fact(f.kind, f.key, f.value, f.tick)


def _gate(g: Any) -> Gate:
    return Gate(g.id, g.name, GateStatus[g.status.name], Decider[g.decider.name], g.opened_tick, g.decided_by, g.note)


def _ledger(r: Any) -> LedgerEntry:
    return LedgerEntry(r.key, r.step, r.kind, r.attempt, r.status, r.summary, r.tick)


class HostView:
    """`loom_bundle.view`'s backend inside loom: the host's reads, converted."""

    def task(self) -> Task:
        t = wview.task()
        return Task(t.id, t.title)

    def phase(self) -> str:
        return wview.phase()

    def facts(self, kind: str) -> list:
        return [_fact(f) for f in wview.facts(kind)]

    def fact(self, kind: str, key: str) -> Any:
        f = wview.fact(kind, key)
        return None if f is None else _fact(f)

    def gates(self) -> list:
        return [_gate(g) for g in wview.gates()]

    def latest_gate(self, name: str) -> Any:
        g = wview.latest_gate(name)
        return None if g is None else _gate(g)

    def ledger(self) -> list:
        return [_ledger(r) for r in wview.ledger()]

    def ledger_of(self, step: str) -> list:
        return [_ledger(r) for r in wview.ledger_of(step)]

    def ledger_last(self, limit: int) -> list:
        return [_ledger(r) for r in wview.ledger_last(limit)]

    def setting(self, key: str) -> Any:
        return wview.setting(key)


def _log_sink(level: str, message: str) -> None:
    wlog.write(wlog.Level[level.upper()], message)


def freeze_sources(packages: Tuple[str, ...]) -> None:
    """Makes tracebacks readable inside the component without touching a file.

    Formatting a traceback reads source lines through `linecache`, which stats and opens the
    files; under `--stub-wasi` that traps, and the exception becomes an `unreachable` with its
    message lost. At build time (componentize-py imports the entry module then, with the
    files at hand) the sources of `packages` are read into linecache's cache, marked as not to
    be re-checked; and any other file's lines are looked up as absent instead of read."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py") or name.split(".")[0] not in packages:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            continue
        # mtime None: `linecache.checkcache` leaves the entry alone (no stat).
        linecache.cache[path] = (sum(map(len, lines)), None, lines, path)
    linecache.updatecache = _no_file_lines


def _no_file_lines(filename: str, module_globals: Any = None) -> list:
    return []


def install(package: str) -> None:
    """Called by the entry module at build time: the host's view and log, and the sources of
    the SDK and of the bundle's `package` for tracebacks."""
    view._backend = HostView()
    log._sink = _log_sink
    freeze_sources(("loom_bundle", package))


# ---- the exports ----


def _out(result: Tuple[str, Any], convert: Any) -> Any:
    kind, value = result
    if kind == "ok":
        try:
            return convert(value)
        except BaseException as e:  # noqa: B902 -- a bad return value is the bundle's failure
            raise Err(failure_out(b.failure_of(e)))
    raise Err(failure_out(value))


def exports_for(cls: Any) -> Tuple[type, type]:
    """The `Logic` and `Rules` export classes componentize-py looks for, over `cls`."""

    class Logic(wexports.Logic):
        def manifest(self) -> Any:
            return _out(b.call_manifest(cls()), manifest_out)

        def next(self, tick: Any) -> Any:
            return _out(b.call_next(cls(), tick_in(tick)), next_out)

        def apply(self, tick: Any, step: str, outcome: Any) -> Any:
            try:
                sdk_outcome = outcome_in(outcome)
            except BaseException as e:  # noqa: B902
                raise Err(w.ApplyError_Failed(failure_out(b.failure_of(e))))
            kind, value = b.call_apply(cls(), tick_in(tick), step, sdk_outcome)
            if kind == "refused":
                raise Err(w.ApplyError_Refused(value))
            if kind == "failed":
                raise Err(w.ApplyError_Failed(failure_out(value)))
            try:
                return [change_out(c) for c in value]
            except BaseException as e:  # noqa: B902
                raise Err(w.ApplyError_Failed(failure_out(b.failure_of(e))))

    class Rules(wexports.Rules):
        def check(self, tick: Any) -> Any:
            return _out(b.call_check(cls(), tick_in(tick)), lambda vs: [violation_out(v) for v in vs])

    return Logic, Rules
