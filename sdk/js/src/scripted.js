// `ScriptedView`, a test double of the view (see `loom-bundle/testing`): a run's state held in
// plain JS, read through the same functions a bundle calls inside loom.

import { Decider, Fact, Gate, GateStatus, LedgerEntry, toJson } from "./types.js";
import { useView } from "./view.js";

export class ScriptedView {
  /** Facts are `{"kind/key": value}` with any JSON value (or a `Fact`); settings
   * `{key: value}`; gates and ledger rows are `Gate` / `LedgerEntry` values. */
  constructor({ task = "a task", phase = "", facts = {}, gates = [], ledger = [], settings = {}, taskId = 1, tick = 1 } = {}) {
    this.taskInfo = Object.freeze({ id: taskId, title: task });
    this.currentPhase = phase;
    this.factRows = new Map();
    this.gateRows = [...gates];
    this.summaries = new Map();
    this.ledgerRows = [...ledger];
    this.settings = new Map(Object.entries(settings).map(([k, v]) => [k, toJson(v)]));
    this.tick = tick;
    for (const [id, value] of Object.entries(facts)) {
      const at = id.indexOf("/");
      if (at < 0) throw new TypeError(`a scripted fact is named "kind/key", not ${JSON.stringify(id)}`);
      if (value instanceof Fact) this.factRows.set(id, value);
      else this.putFact(id.slice(0, at), id.slice(at + 1), value);
    }
  }

  /** Runs `fn` with this as the view and returns what it returns. */
  use(fn) {
    return useView(this, fn);
  }

  // ---- writing the scripted state ----

  putFact(kind, key, value, tick = this.tick) {
    return this.putFactText(kind, key, toJson(value), tick);
  }

  /** A fact whose stored text is exactly `text` (e.g. to test a value that is not JSON). */
  putFactText(kind, key, text, tick = this.tick) {
    const f = new Fact(kind, key, text, tick);
    this.factRows.set(`${kind}/${key}`, f);
    return f;
  }

  dropFact(kind, key) {
    this.factRows.delete(`${kind}/${key}`);
  }

  openGate(name, { decider = Decider.HUMAN, summary = "", tick = this.tick } = {}) {
    const g = new Gate(tick, name, GateStatus.PENDING, decider, tick);
    this.gateRows.push(g);
    this.summaries.set(g.id, summary);
    return g;
  }

  decideGate(id, approved, decider, by, note = null) {
    const i = this.gateRows.findIndex((g) => g.id === id);
    if (i < 0) throw new RangeError(`no gate opening #${id}`);
    const g = this.gateRows[i];
    const status = approved ? GateStatus.APPROVED : GateStatus.REJECTED;
    this.gateRows[i] = new Gate(g.id, g.name, status, decider, g.openedTick, by, note);
    return this.gateRows[i];
  }

  addLedger(step, { kind = "agent", status = "done", summary = "", key = null, attempt = 1, tick = this.tick, run = 1 } = {}) {
    if (key === null) {
      const settled = new Set(this.ledgerRows.filter((r) => r.step === step && ["done", "refused"].includes(r.status)).map((r) => r.key));
      key = `r${run}/${step}#${settled.size + 1}`;
    }
    const row = new LedgerEntry(key, step, kind, attempt, status, summary, tick);
    this.ledgerRows.push(row);
    return row;
  }

  setStatus(key, attempt, status) {
    this.ledgerRows = this.ledgerRows.map((r) =>
      r.key === key && r.attempt === attempt ? new LedgerEntry(r.key, r.step, r.kind, r.attempt, status, r.summary, r.tick) : r,
    );
  }

  copy() {
    const c = Object.create(ScriptedView.prototype);
    Object.assign(c, this);
    c.factRows = new Map(this.factRows);
    c.gateRows = [...this.gateRows];
    c.summaries = new Map(this.summaries);
    c.ledgerRows = [...this.ledgerRows];
    c.settings = new Map(this.settings);
    return c;
  }

  // ---- the view's reads ----

  task() {
    return this.taskInfo;
  }
  phase() {
    return this.currentPhase;
  }
  facts(kind) {
    return [...this.factRows.values()].filter((f) => f.kind === kind).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  fact(kind, key) {
    return this.factRows.get(`${kind}/${key}`) ?? null;
  }
  gates() {
    return [...this.gateRows];
  }
  latestGate(name) {
    return this.gateRows.findLast((g) => g.name === name) ?? null;
  }
  ledger() {
    return [...this.ledgerRows];
  }
  ledgerOf(step) {
    return this.ledgerRows.filter((r) => r.step === step);
  }
  ledgerLast(limit) {
    return limit > 0 ? this.ledgerRows.slice(-limit) : [];
  }
  setting(key) {
    return this.settings.get(key) ?? null;
  }
}
