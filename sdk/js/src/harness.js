// `Driver`: a bundle run tick by tick, in-process, the way loom drives it.
//
// Per tick: `next`; then the effect is performed from the script (an agent's reply by role and
// turn, a command's result by name), or the gate opened and decided (by the policy dial, a
// scripted human decision, a rule's approval or an agent's `APPROVE` / `REJECT: reason`); then
// `apply`, and `check` on the state the tick is about to commit. A violation rolls the tick
// back and stops the run, a failure of the bundle's code stops it with the stack, a refused
// effect result is recorded as refused and stops the run (a refused human decision is not
// recorded at all: the gate stays open). Before the first tick the manifest is checked as loom
// checks it, and the project's settings and commands against what the manifest says it needs.

import { Failure, callApply, callCheck, callManifest, callNext } from "./bundle.js";
import { manifestProblems, render, valueHasType } from "./checks.js";
import { ScriptedView } from "./scripted.js";
import { Decider, Fact, GateStatus, LedgerEntry, Risk, agentReply, commandResult, diffResult, gateDecision, toJson } from "./types.js";
import { useView } from "./view.js";

const POLICIES = ["manual", "supervised", "autonomous"];

/** The bundle or the scripted project cannot run at all (what loom refuses before a run). */
export class SetupError extends Error {
  constructor(message) {
    super(message);
    this.name = "SetupError";
  }
}

/** What a driven run did. `status`: running, waiting (for a human at `waitingOn`), stopped
 * (see `reason`), done or failed. */
export class Trace {
  constructor() {
    Object.assign(this, { status: "running", reason: "", phases: [], ticks: [], prompts: [], commands: [], refusals: [], violations: [], fault: null, waitingOn: null });
  }
  describe() {
    const lines = [`status ${this.status}${this.reason ? `: ${this.reason}` : ""}`, `phases ${this.phases.join(" → ")}`];
    for (const t of this.ticks) lines.push(`  tick ${t.seq} ${t.kind} ${t.step ?? "-"}: ${t.summary}`);
    if (this.fault?.traceback) lines.push(this.fault.traceback);
    return lines.join("\n");
  }
  /** Throws, showing the whole trace, unless the run's status is `status`. */
  expect(status) {
    if (this.status !== status) throw new Error(`expected the run to be ${status}, it is ${this.status}\n${this.describe()}`);
    return this;
  }
}

export class Driver {
  /** Drives `bundle` (from `defineBundle`). `commands`: name -> the result of every run not
   * scripted with `.command(...)` (an exit code or a `commandResult`). */
  constructor(bundle, task = "a task", { settings = {}, commands = {}, policy = "supervised", gateDeciders = {}, run = 1, startMs = 1_760_000_000_000 } = {}) {
    if (!POLICIES.includes(policy)) throw new SetupError(`policy ${JSON.stringify(policy)} is not one of ${POLICIES.join(", ")}`);
    Object.assign(this, { bundle, policy, gateDeciders, runId: run, startMs });
    this.replies = new Map();
    this.results = new Map();
    this.decisions = new Map();
    this.diffs = [];
    this.defaults = new Map(Object.entries(commands).map(([n, r]) => [n, typeof r === "number" ? commandResult(r) : r]));
    const m = callManifest(bundle);
    if (m.kind !== "ok") throw new SetupError(`manifest() failed: ${m.value}`);
    this.manifest = m.value;
    const problems = manifestProblems(this.manifest);
    if (problems.length) throw new SetupError(`the manifest has problems:\n- ${problems.join("\n- ")}`);
    this.state = new ScriptedView({ task, settings: this.#settings(settings), tick: 0 });
    this.trace = new Trace();
    this.seq = 0;
    this.turns = new Map();
  }

  // ---- the script ----

  /** Agent replies for `role`, answering its calls in order. */
  reply(role, ...texts) {
    this.replies.set(role, [...(this.replies.get(role) ?? []), ...texts]);
    return this;
  }
  /** A result of command `name`. Scripted results answer its runs in order; then the
   * constructor's `commands[name]` answers, or without one the last result repeats. */
  command(name, exitCode = 0, output = "") {
    this.results.set(name, [...(this.results.get(name) ?? []), commandResult(exitCode, output)]);
    return this;
  }
  /** A human's decision on `gate`, used at its next opening that waits for a human. */
  decide(gate, approved, { by = "tester", note = null, edited = null } = {}) {
    this.decisions.set(gate, [...(this.decisions.get(gate) ?? []), gateDecision(gate, approved, { by, note, edited })]);
    return this;
  }
  approve(gate, opts = {}) {
    return this.decide(gate, true, opts);
  }
  reject(gate, note, opts = {}) {
    return this.decide(gate, false, { ...opts, note });
  }

  // ---- running ----

  /** Drives until the run finishes, waits for a human with no scripted decision, stops, or
   * `maxTicks` ticks were taken. Call again (after scripting more) to go on, as `loom resume`
   * or `loom approve` would. */
  run(maxTicks = 200) {
    const t = this.trace;
    if (t.status === "done" || t.status === "failed") throw new SetupError(`the run is already ${t.status}`);
    if (this.seq === 0) {
      this.state.currentPhase = this.manifest.phaseNames[0];
      this.#commit(this.state.copy(), "start", null, `run started in phase ${this.state.currentPhase}`);
      if (t.status === "stopped") return t;
    }
    if (t.status === "stopped") Object.assign(t, { status: "running", reason: "", fault: null });
    for (let i = 0; i < maxTicks; i++) {
      if (t.status === "waiting") {
        const queued = this.decisions.get(t.waitingOn) ?? [];
        if (!queued.length) return t;
        this.#decide(this.state.latestGate(t.waitingOn), queued.shift());
      } else {
        this.#tick();
      }
      if (t.status !== "running" && t.status !== "waiting") return t;
    }
    if (t.status === "running") this.#stop(`maxTicks (${maxTicks}) reached`);
    return t;
  }

  #token() {
    this.seq += 1;
    this.state.tick = this.seq;
    return Object.freeze({ run: this.runId, seq: this.seq, unixMs: this.startMs + 1000 * this.seq });
  }

  #tick() {
    const token = this.#token();
    const r = useView(this.state, () => callNext(this.bundle, token));
    if (r.kind !== "ok") return this.#fault(null, r.value);
    const step = r.value;
    if (step.kind === "finish" || step.kind === "fail") {
      const status = step.kind === "finish" ? "done" : "failed";
      const text = step.summary ?? step.reason;
      if (this.#commit(this.state.copy(), "finish", null, `run ${status}: ${text}`, [], token)) {
        Object.assign(this.trace, { status, reason: text });
      }
    } else if (step.kind === "gate") {
      this.#gate(token, step);
    } else {
      this.#effect(token, step);
    }
  }

  #gate(token, g) {
    const decl = this.manifest.findGate(g.gate);
    if (decl === null) return this.#fault(g.gate, new Failure(`the bundle asked for gate ${JSON.stringify(g.gate)}, which its manifest does not declare`));
    const pending = this.state.gateRows.findLast((x) => x.name === g.gate && x.status === GateStatus.PENDING);
    if (pending === undefined) {
      const decider = this.#decider(decl, g.requireHuman);
      const staged = this.state.copy();
      staged.openGate(g.gate, { decider, summary: g.summary, tick: token.seq });
      if (this.#commit(staged, "gate-open", g.gate, `gate ${g.gate} opened for a ${decider} to decide`, [], token) && decider === Decider.HUMAN) {
        Object.assign(this.trace, { status: "waiting", waitingOn: g.gate });
      }
      return;
    }
    if (pending.decider === Decider.HUMAN) {
      Object.assign(this.trace, { status: "waiting", waitingOn: g.gate });
      this.trace.ticks.push({ seq: token.seq, kind: "hold", step: g.gate, summary: `waiting on gate ${g.gate}`, changes: [] });
    } else if (pending.decider === Decider.RULE) {
      this.#decide(pending, gateDecision(g.gate, true, { decider: Decider.RULE, by: "rule" }), token);
    } else {
      const text = this.#answer(decl.role ?? "gatekeeper", g.gate);
      if (text === null) return;
      const first = text.split("\n").map((l) => l.trim()).find((l) => l) ?? "";
      if (first.toUpperCase().startsWith("APPROVE")) {
        this.#decide(pending, gateDecision(g.gate, true, { decider: Decider.AGENT, by: "scripted" }), token);
      } else if (first.toUpperCase().startsWith("REJECT")) {
        const note = first.slice(6).replace(/^[:\s]+/, "");
        this.#decide(pending, gateDecision(g.gate, false, { decider: Decider.AGENT, by: "scripted", note }), token);
      } else {
        this.#stop(`the agent's answer at gate ${g.gate} was neither APPROVE nor REJECT: ${JSON.stringify(first)}`);
      }
    }
  }

  #decide(gate, d, token = this.#token()) {
    const staged = this.state.copy();
    staged.decideGate(gate.id, d.approved, d.decider, d.by, d.note);
    const r = useView(staged, () => callApply(this.bundle, token, gate.name, d));
    if (r.kind === "refused") {
      this.trace.refusals.push([gate.name, r.value]);
      if (d.decider === Decider.HUMAN) {
        Object.assign(this.trace, { status: "waiting", waitingOn: gate.name });
        this.seq -= 1; // nothing of a refused human decision is recorded
      } else {
        this.#stop(`bundle refused the decision on ${gate.name}: ${r.value}`);
      }
      return;
    }
    if (r.kind === "failed") return this.#fault(gate.name, r.value);
    Object.assign(this.trace, { status: "running", waitingOn: null });
    this.#commit(staged, "decision", gate.name, `${gate.name} ${d.approved ? "approved" : "rejected"} by ${d.by}`, r.value, token);
  }

  #effect(token, e) {
    if (this.manifest.findStep(e.step) === null) {
      return this.#fault(e.step, new Failure(`the bundle asked for step ${JSON.stringify(e.step)}, which its manifest does not declare`));
    }
    let outcome;
    let kind;
    let summary;
    if (e.kind === "agent") {
      const template = this.manifest.findTemplate(e.template);
      if (template === null) return this.#fault(e.step, new Failure(`the bundle asked for template ${JSON.stringify(e.template)}, which its manifest does not declare`));
      let prompt;
      try {
        prompt = render(template, e.args);
      } catch (err) {
        return this.#stop(`${e.step}: ${err.message}`);
      }
      this.trace.prompts.push([e.step, e.role, prompt]);
      const text = this.#answer(e.role, e.step);
      if (text === null) return;
      [outcome, kind, summary] = [agentReply(text), "agent", `${e.role} replied`];
    } else if (e.kind === "command") {
      if (!this.manifest.commands.includes(e.name)) {
        return this.#fault(e.step, new Failure(`the bundle runs command ${JSON.stringify(e.name)}, which its manifest's needs do not list`));
      }
      const queue = this.results.get(e.name) ?? [];
      outcome = queue.length > 1 || (queue.length && this.defaults.has(e.name)) ? queue.shift() : (queue[0] ?? this.defaults.get(e.name));
      this.trace.commands.push(e.name);
      [kind, summary] = ["command", `\`${e.name}\` exited ${outcome.exitCode}`];
    } else {
      outcome = this.diffs.shift() ?? diffResult(true, "scripted");
      [kind, summary] = ["apply-diff", `diff from ${e.sourceKey} applied: ${outcome.applied}`];
    }
    const settled = new Set(this.state.ledgerRows.filter((r) => r.step === e.step && ["done", "refused"].includes(r.status)).map((r) => r.key));
    const staged = this.state.copy();
    const row = staged.addLedger(e.step, { kind, summary, key: `r${this.runId}/${e.step}#${settled.size + 1}`, tick: token.seq });
    const r = useView(staged, () => callApply(this.bundle, token, e.step, outcome));
    if (r.kind === "failed") return this.#fault(e.step, r.value);
    if (r.kind === "refused") {
      this.trace.refusals.push([e.step, r.value]);
      // As loom: the result is recorded as refused and the run stops, saying why.
      staged.setStatus(row.key, row.attempt, "refused");
      if (this.#commit(staged, "refused", e.step, `${e.step}: bundle refused the outcome: ${r.value}`, [], token)) {
        this.#stop(`bundle refused the result of ${e.step}: ${r.value}`);
      }
      return;
    }
    if (!this.#commit(staged, "effect", e.step, `${e.step}: ${summary}`, r.value, token) && this.trace.fault === null) {
      // A rule refused the state change: loom keeps the performed result, marked refused.
      this.state.ledgerRows.push(new LedgerEntry(row.key, row.step, row.kind, row.attempt, "refused", row.summary, row.tick));
    }
  }

  #answer(role, step) {
    const turn = this.turns.get(role) ?? 0;
    const texts = this.replies.get(role) ?? [];
    if (turn >= texts.length) {
      this.#stop(`${step}: the script has no reply for role ${role} turn ${turn} (it has ${texts.length}); add one with driver.reply(${JSON.stringify(role)}, ...)`);
      return null;
    }
    this.turns.set(role, turn + 1);
    return texts[turn];
  }

  /** Applies `changes` to `staged`, runs the rules on it, and keeps it if none fires. */
  #commit(staged, kind, step, summary, changes = [], token = this.#token()) {
    for (const c of changes) {
      if (c.kind === "phase") {
        if (!this.manifest.phaseNames.includes(c.phase)) {
          this.#fault(step, new Failure(`apply moved the run to phase ${JSON.stringify(c.phase)}, which the manifest does not declare`));
          return false;
        }
        staged.currentPhase = c.phase;
      } else if (c.kind === "put-fact") {
        staged.factRows.set(`${c.fact.kind}/${c.fact.key}`, new Fact(c.fact.kind, c.fact.key, c.fact.value, token.seq));
      } else if (c.kind === "drop-fact") {
        staged.dropFact(c.fact.kind, c.fact.key);
      }
    }
    const r = useView(staged, () => callCheck(this.bundle, token));
    if (r.kind !== "ok") {
      this.#fault(step, r.value);
      return false;
    }
    if (r.value.length) {
      const first = r.value[0];
      this.trace.violations.push(...r.value);
      this.trace.ticks.push({ seq: token.seq, kind: "violation", step, summary: `rule ${first.rule}: ${first.message}`, changes: [] });
      this.#stop(`rule ${first.rule} fired: ${first.message} (rows: ${first.rows.join(", ")})`);
      return false;
    }
    this.state = staged;
    this.trace.ticks.push({ seq: token.seq, kind, step, summary, changes: [...changes] });
    if (this.trace.phases.at(-1) !== staged.currentPhase) this.trace.phases.push(staged.currentPhase);
    return true;
  }

  #stop(reason) {
    Object.assign(this.trace, { status: "stopped", reason });
  }

  #fault(step, failure) {
    this.trace.fault = failure;
    this.trace.ticks.push({ seq: this.seq, kind: "fault", step, summary: failure.message, changes: [] });
    this.#stop(`bundle fault: ${failure.message}`);
  }

  /** loom's policy dial: the bundle demanding a human, then a per-gate override, then the
   * policy. */
  #decider(decl, requireHuman) {
    if (requireHuman) return Decider.HUMAN;
    if (decl.name in this.gateDeciders) return this.gateDeciders[decl.name];
    if (this.policy === "manual") return Decider.HUMAN;
    if (this.policy === "supervised") return decl.risk === Risk.HIGH ? Decider.HUMAN : decl.decider;
    return decl.decider === Decider.HUMAN ? Decider.AGENT : decl.decider;
  }

  /** The project's settings checked against the manifest's, as loom checks them. */
  #settings(given) {
    const problems = [];
    const declared = new Map(this.manifest.settings.map((s) => [s.key, s]));
    for (const [key, value] of Object.entries(given)) {
      const s = declared.get(key);
      if (s === undefined) problems.push(`setting ${JSON.stringify(key)} is not one the bundle reads (it reads: ${[...declared.keys()].join(", ") || "none"})`);
      else if (!valueHasType(value, s.type)) problems.push(`setting ${JSON.stringify(key)} is ${s.type}, not ${toJson(value)}`);
    }
    for (const s of this.manifest.settings) {
      if (s.default === null && !(s.key in given)) problems.push(`setting ${JSON.stringify(s.key)} is required and not set`);
    }
    for (const name of this.manifest.commands) {
      if (!this.defaults.has(name)) problems.push(`the bundle runs command ${JSON.stringify(name)}: give its result in new Driver(bundle, task, { commands: { ${JSON.stringify(name)}: 0 } })`);
    }
    if (problems.length) throw new SetupError(`the scripted project does not meet the bundle's needs:\n- ${problems.join("\n- ")}`);
    return given;
  }
}
