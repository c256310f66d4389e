"""`Driver`: a bundle run tick by tick, in-process, the way loom drives it.

Per tick: `next`; then the effect is performed from the script (an agent's reply by role and
turn, a command's result by name), or the gate opened and decided (by the policy dial, a
scripted human decision, a rule's approval or an agent's `APPROVE` / `REJECT: reason`); then
`apply`, and `check` on the state the tick is about to commit. A violation rolls the tick back
and stops the run, a failure of the bundle's code stops it with the traceback, a refused
effect result is recorded as refused and stops the run (a refused human decision is not
recorded at all: the gate stays open). Before
the first tick the manifest is checked as loom checks it, and the project's settings and
commands against what the manifest says it needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import checks, view
from .bundle import Failure, call_apply, call_check, call_manifest, call_next
from .types import (
    AgentCall,
    AgentReply,
    ApplyDiffCall,
    Change,
    CommandCall,
    CommandResult,
    Decider,
    DiffResult,
    DropFact,
    Fact,
    EffectStep,
    Fail,
    Finish,
    GateDecision,
    GateStep,
    GateStatus,
    Note,
    PutFact,
    Risk,
    SetPhase,
    TickToken,
    to_json,
)
from .scripted import ScriptedView

POLICIES = ("manual", "supervised", "autonomous")


class SetupError(Exception):
    """The bundle or the scripted project cannot run at all (what loom refuses before a run)."""


@dataclass
class TickRecord:
    seq: int
    kind: str  # start, effect, gate-open, decision, finish, violation, fault, refused
    step: Optional[str]
    summary: str
    changes: List[Change] = field(default_factory=list)


@dataclass
class Trace:
    """What a driven run did. `status`: running, waiting (for a human at `waiting_on`),
    stopped (see `reason`), done or failed."""

    status: str = "running"
    reason: str = ""
    phases: List[str] = field(default_factory=list)
    ticks: List[TickRecord] = field(default_factory=list)
    prompts: List[tuple] = field(default_factory=list)  # (step, role, rendered prompt)
    commands: List[str] = field(default_factory=list)  # names, in the order they ran
    refusals: List[tuple] = field(default_factory=list)  # (step, reason)
    violations: list = field(default_factory=list)
    fault: Optional[Failure] = None
    waiting_on: Optional[str] = None

    def describe(self) -> str:
        lines = [f"status {self.status}" + (f": {self.reason}" if self.reason else ""), f"phases {' → '.join(self.phases)}"]
        lines += [f"  tick {t.seq} {t.kind} {t.step or '-'}: {t.summary}" for t in self.ticks]
        if self.fault and self.fault.traceback:
            lines.append(self.fault.traceback)
        return "\n".join(lines)

    def expect(self, status: str) -> "Trace":
        """Asserts the run's status, showing the whole trace when it differs."""
        if self.status != status:
            raise AssertionError(f"expected the run to be {status}, it is {self.status}\n{self.describe()}")
        return self


class Driver:
    """Drives `bundle` (a `Bundle` subclass or instance; a fresh instance serves each call)."""

    def __init__(
        self,
        bundle: Any,
        task: str = "a task",
        *,
        settings: Optional[Dict[str, Any]] = None,
        commands: Optional[Dict[str, Any]] = None,
        policy: str = "supervised",
        gate_deciders: Optional[Dict[str, Decider]] = None,
        run: int = 1,
        start_ms: int = 1_760_000_000_000,
    ) -> None:
        if policy not in POLICIES:
            raise SetupError(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
        self.make = bundle if isinstance(bundle, type) else type(bundle)
        self.policy = policy
        self.gate_deciders = dict(gate_deciders or {})
        self.run_id, self.start_ms = run, start_ms
        self.replies: Dict[str, List[str]] = {}
        self.results: Dict[str, List[CommandResult]] = {}
        self.decisions: Dict[str, List[GateDecision]] = {}
        self.diffs: List[DiffResult] = []
        # name -> the result of every run not scripted with `command` (an exit code or a
        # CommandResult)
        self.defaults: Dict[str, CommandResult] = {
            name: CommandResult(r) if isinstance(r, int) else r for name, r in (commands or {}).items()
        }
        kind, m = call_manifest(self.make())
        if kind != "ok":
            raise SetupError(f"manifest() failed: {m}")
        self.manifest = m
        problems = checks.manifest_problems(m)
        if problems:
            raise SetupError("the manifest has problems:\n- " + "\n- ".join(problems))
        self.state = ScriptedView(task=task, settings=self._settings(settings or {}), tick=0)
        self.trace = Trace()
        self.seq = 0
        self.turns: Dict[str, int] = {}

    # ---- the script ----

    def reply(self, role: str, *texts: str) -> "Driver":
        """Agent replies for `role`, answering its calls in order (turn 0, 1, ...)."""
        self.replies.setdefault(role, []).extend(texts)
        return self

    def command(self, name: str, exit_code: int = 0, output: str = "") -> "Driver":
        """A result of command `name`. Scripted results answer its runs in order; then the
        constructor's `commands[name]` answers, or without one the last result repeats."""
        self.results.setdefault(name, []).append(CommandResult(exit_code, output))
        return self

    def decide(self, gate: str, approved: bool, by: str = "tester", note: Optional[str] = None, edited: Optional[str] = None) -> "Driver":
        """A human's decision on `gate`, used at its next opening that waits for a human."""
        self.decisions.setdefault(gate, []).append(GateDecision(gate, approved, Decider.HUMAN, by, note, edited))
        return self

    def approve(self, gate: str, **kw: Any) -> "Driver":
        return self.decide(gate, True, **kw)

    def reject(self, gate: str, note: str, **kw: Any) -> "Driver":
        return self.decide(gate, False, note=note, **kw)

    # ---- running ----

    def run(self, max_ticks: int = 200) -> Trace:
        """Drives until the run finishes, waits for a human with no scripted decision, stops,
        or `max_ticks` ticks were taken. Call again (after scripting more) to go on, as
        `loom resume` / `loom approve` would."""
        t = self.trace
        if t.status in ("done", "failed"):
            raise SetupError(f"the run is already {t.status}")
        if self.seq == 0:
            self.state.current_phase = self.manifest.phase_names[0]
            self._commit(self.state.copy(), "start", None, f"run started in phase {self.state.current_phase}")
            if t.status == "stopped":
                return t
        if t.status == "stopped":  # as `loom resume` after a stop
            t.status, t.reason, t.fault = "running", "", None
        for _ in range(max_ticks):
            if t.status == "waiting":
                queued = self.decisions.get(t.waiting_on or "")
                if not queued:
                    return t
                gate = self.state.latest_gate(t.waiting_on or "")
                self._decide(gate, queued.pop(0))
            else:
                self._tick()
            if t.status != "running" and t.status != "waiting":
                return t
        if t.status == "running":
            self._stop(f"max_ticks ({max_ticks}) reached")
        return t

    def _token(self) -> TickToken:
        self.seq += 1
        self.state.tick = self.seq
        return TickToken(self.run_id, self.seq, self.start_ms + 1000 * self.seq)

    def _tick(self) -> None:
        token = self._token()
        with view.use(self.state):
            kind, step = call_next(self.make(), token)
        if kind != "ok":
            return self._fault(None, step)
        if isinstance(step, (Finish, Fail)):
            status = "done" if isinstance(step, Finish) else "failed"
            text = step.summary if isinstance(step, Finish) else step.reason
            if self._commit(self.state.copy(), "finish", None, f"run {status}: {text}", token=token):
                self.trace.status, self.trace.reason = status, text
        elif isinstance(step, GateStep):
            self._gate(token, step)
        elif isinstance(step, EffectStep):
            self._effect(token, step)

    def _gate(self, token: TickToken, g: GateStep) -> None:
        decl = self.manifest.find_gate(g.gate)
        if decl is None:
            return self._fault(g.gate, Failure(f"the bundle asked for gate {g.gate!r}, which its manifest does not declare"))
        pending = next((x for x in reversed(self.state.gate_rows) if x.name == g.gate and x.status is GateStatus.PENDING), None)
        if pending is None:
            decider = self._decider(decl, g.require_human)
            staged = self.state.copy()
            staged.open_gate(g.gate, decider, g.summary, tick=token.seq)
            if self._commit(staged, "gate-open", g.gate, f"gate {g.gate} opened for a {decider.value} to decide", token=token):
                if decider is Decider.HUMAN:
                    self.trace.status, self.trace.waiting_on = "waiting", g.gate
            return
        if pending.decider is Decider.HUMAN:
            self.trace.status, self.trace.waiting_on = "waiting", g.gate
            self.trace.ticks.append(TickRecord(token.seq, "hold", g.gate, f"waiting on gate {g.gate}"))
        elif pending.decider is Decider.RULE:
            self._decide(pending, GateDecision(g.gate, True, Decider.RULE, "rule"), token)
        else:
            text = self._answer(decl.role or "gatekeeper", g.gate)
            if text is None:
                return
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            if first.upper().startswith("APPROVE"):
                self._decide(pending, GateDecision(g.gate, True, Decider.AGENT, "scripted"), token)
            elif first.upper().startswith("REJECT"):
                note = first[6:].lstrip(": ")
                self._decide(pending, GateDecision(g.gate, False, Decider.AGENT, "scripted", note), token)
            else:
                self._stop(f"the agent's answer at gate {g.gate} was neither APPROVE nor REJECT: {first!r}")

    def _decide(self, gate: Any, d: GateDecision, token: Optional[TickToken] = None) -> None:
        token = token or self._token()
        staged = self.state.copy()
        staged.decide_gate(gate.id, d.approved, d.decider, d.by, d.note)
        with view.use(staged):
            kind, changes = call_apply(self.make(), token, gate.name, d)
        if kind == "refused":
            self.trace.refusals.append((gate.name, changes))
            if d.decider is Decider.HUMAN:
                self.trace.status, self.trace.waiting_on = "waiting", gate.name
                self.seq -= 1  # nothing of a refused human decision is recorded
            else:
                self._stop(f"bundle refused the decision on {gate.name}: {changes}")
            return
        if kind == "failed":
            return self._fault(gate.name, changes)
        self.trace.status, self.trace.waiting_on = "running", None
        verb = "approved" if d.approved else "rejected"
        self._commit(staged, "decision", gate.name, f"{gate.name} {verb} by {d.by}", changes, token)

    def _effect(self, token: TickToken, e: EffectStep) -> None:
        decl = self.manifest.find_step(e.step)
        if decl is None:
            return self._fault(e.step, Failure(f"the bundle asked for step {e.step!r}, which its manifest does not declare"))
        eff = e.effect
        if isinstance(eff, AgentCall):
            template = self.manifest.find_template(eff.template)
            if template is None:
                return self._fault(e.step, Failure(f"the bundle asked for template {eff.template!r}, which its manifest does not declare"))
            try:
                prompt = checks.render(template, eff.args)
            except ValueError as err:
                return self._stop(f"{e.step}: {err}")
            self.trace.prompts.append((e.step, eff.role, prompt))
            text = self._answer(eff.role, e.step)
            if text is None:
                return
            outcome: Any = AgentReply(text)
            kind, summary = "agent", f"{eff.role} replied"
        elif isinstance(eff, CommandCall):
            if eff.name not in self.manifest.commands:
                return self._fault(e.step, Failure(f"the bundle runs command {eff.name!r}, which its manifest's needs do not list"))
            queue = self.results.get(eff.name, [])
            if len(queue) > 1 or (queue and eff.name in self.defaults):
                outcome = queue.pop(0)
            else:
                outcome = queue[0] if queue else self.defaults[eff.name]  # one of the two: checked at setup
            self.trace.commands.append(eff.name)
            kind, summary = "command", f"`{eff.name}` exited {outcome.exit_code}"
        else:
            assert isinstance(eff, ApplyDiffCall)
            outcome = self.diffs.pop(0) if self.diffs else DiffResult(True, "scripted", [])
            kind, summary = "apply-diff", f"diff from {eff.source_key} applied: {outcome.applied}"
        settled = {r.key for r in self.state.ledger_rows if r.step == e.step and r.status in ("done", "refused")}
        staged = self.state.copy()
        row = staged.add_ledger(e.step, kind, "done", summary, key=f"r{self.run_id}/{e.step}#{len(settled) + 1}", tick=token.seq)
        with view.use(staged):
            result, changes = call_apply(self.make(), token, e.step, outcome)
        if result == "failed":
            return self._fault(e.step, changes)
        if result == "refused":
            self.trace.refusals.append((e.step, changes))
            # As loom: the result is recorded as refused and the run stops, saying why; a
            # resume runs the step again (its next attempt, the agent's next turn).
            staged.set_status(row.key, row.attempt, "refused")
            if self._commit(staged, "refused", e.step, f"{e.step}: bundle refused the outcome: {changes}", token=token):
                self._stop(f"bundle refused the result of {e.step}: {changes}")
            return
        if not self._commit(staged, "effect", e.step, f"{e.step}: {summary}", changes, token) and self.trace.fault is None:
            # A rule refused the state change: loom keeps the performed result, marked refused.
            self.state.ledger_rows.append(dataclasses.replace(row, status="refused"))

    def _answer(self, role: str, step: str) -> Optional[str]:
        turn = self.turns.get(role, 0)
        texts = self.replies.get(role, [])
        if turn >= len(texts):
            self._stop(f"{step}: the script has no reply for role {role} turn {turn} (it has {len(texts)}); add one with Driver.reply({role!r}, ...)")
            return None
        self.turns[role] = turn + 1
        return texts[turn]

    def _commit(self, staged: ScriptedView, kind: str, step: Optional[str], summary: str, changes: Optional[List[Change]] = None, token: Optional[TickToken] = None) -> bool:
        """Applies `changes` to `staged`, runs the rules on it, and keeps it if none fires."""
        token = token or self._token()
        for c in changes or []:
            if isinstance(c, SetPhase):
                if c.phase not in self.manifest.phase_names:
                    self._fault(step, Failure(f"apply moved the run to phase {c.phase!r}, which the manifest does not declare"))
                    return False
                staged.current_phase = c.phase
            elif isinstance(c, PutFact):
                staged.fact_rows[(c.kind, c.key)] = Fact(c.kind, c.key, c.value, token.seq)
            elif isinstance(c, DropFact):
                staged.drop_fact(c.kind, c.key)
            elif isinstance(c, Note):
                pass
        with view.use(staged):
            result, violations = call_check(self.make(), token)
        if result != "ok":
            self._fault(step, violations)
            return False
        if violations:
            self.trace.violations.extend(violations)
            first = violations[0]
            self.trace.ticks.append(TickRecord(token.seq, "violation", step, f"rule {first.rule}: {first.message}"))
            self._stop(f"rule {first.rule} fired: {first.message} (rows: {', '.join(first.rows)})")
            return False
        self.state = staged
        self.trace.ticks.append(TickRecord(token.seq, kind, step, summary, list(changes or [])))
        if not self.trace.phases or self.trace.phases[-1] != staged.current_phase:
            self.trace.phases.append(staged.current_phase)
        return True

    def _stop(self, reason: str) -> None:
        self.trace.status, self.trace.reason = "stopped", reason

    def _fault(self, step: Optional[str], failure: Failure) -> None:
        self.trace.fault = failure
        self.trace.ticks.append(TickRecord(self.seq, "fault", step, failure.message))
        self._stop(f"bundle fault: {failure.message}")

    def _decider(self, decl: Any, require_human: bool) -> Decider:
        """loom's policy dial: the bundle demanding a human, then a per-gate override, then
        the policy."""
        if require_human:
            return Decider.HUMAN
        if decl.name in self.gate_deciders:
            return self.gate_deciders[decl.name]
        if self.policy == "manual":
            return Decider.HUMAN
        if self.policy == "supervised":
            return Decider.HUMAN if decl.risk is Risk.HIGH else decl.decider
        return Decider.AGENT if decl.decider is Decider.HUMAN else decl.decider

    def _settings(self, given: Dict[str, Any]) -> Dict[str, Any]:
        """The project's settings checked against the manifest's, as loom checks them."""
        problems = []
        declared = {s.key: s for s in self.manifest.settings}
        for key, value in given.items():
            s = declared.get(key)
            if s is None:
                problems.append(f"setting {key!r} is not one the bundle reads (it reads: {', '.join(declared) or 'none'})")
            elif not checks.value_has_type(value, s.type):
                problems.append(f"setting {key!r} is {s.type.value}, not {to_json(value)}")
        for s in self.manifest.settings:
            if s.default is None and s.key not in given:
                problems.append(f"setting {s.key!r} is required and not set")
        for name in self.manifest.commands:
            if name not in self.defaults:
                problems.append(f"the bundle runs command {name!r}: give its result in Driver(commands={{{name!r}: 0}})")
        if problems:
            raise SetupError("the scripted project does not meet the bundle's needs:\n- " + "\n- ".join(problems))
        return given
