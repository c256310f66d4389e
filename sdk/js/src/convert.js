// The SDK's values to and from the contract's shapes as componentize-qjs lifts and lowers them
// (records with camelCase fields, variants as `{tag, val}` with the WIT case name, enums as
// their case name, `option` as the value or null, a top-level `result` as a return or a throw
// of the error value), and the exports over a bundle. Kept apart from `guest.js`, which
// imports the host's interfaces, so that all of it runs natively under `node --test` too,
// against a fake host.

import { callApply, callCheck, callManifest, callNext, failureOf } from "./bundle.js";
import { installLog } from "./log.js";
import { describe, Fact, Gate, LedgerEntry } from "./types.js";
import { installView } from "./view.js";

const str = (v, what) => {
  if (typeof v !== "string") throw new TypeError(`${what} is ${describe(v)}, not a string`);
  return v;
};
const optStr = (v, what) => (v === null || v === undefined ? null : str(v, what));
const bool = (v, what) => {
  if (typeof v !== "boolean") throw new TypeError(`${what} is ${describe(v)}, not a boolean`);
  return v;
};
const strs = (v, what) => {
  if (!Array.isArray(v)) throw new TypeError(`${what} is ${describe(v)}, not an array of strings`);
  return v.map((x) => str(x, `an item of ${what}`));
};
const oneOf = (v, cases, what) => {
  if (!cases.includes(v)) throw new TypeError(`${what} is ${describe(v)}, not one of ${cases.join(", ")}`);
  return v;
};
const PARAM_TYPES = ["text", "integer", "boolean", "text-list"];

// ---- SDK -> contract ----

export function manifestOut(m) {
  return {
    name: str(m.name, "the name"),
    version: str(m.version, "the version"),
    phases: strs(m.phaseNames, "the phases"),
    steps: m.steps.map((s) => ({
      name: str(s.name, "a step's name"),
      phase: str(s.phase, `step ${s.name}'s phase`),
      role: optStr(s.role, "a step's role"),
      template: optStr(s.template, "a step's template"),
      doc: str(s.doc, "a step's doc"),
    })),
    gates: m.gates.map((g) => ({
      name: str(g.name, "a gate's name"),
      decider: oneOf(g.decider, ["human", "agent", "rule"], `gate ${g.name}'s decider`),
      risk: oneOf(g.risk, ["low", "medium", "high"], `gate ${g.name}'s risk`),
      role: optStr(g.role, "a gate's role"),
      editable: bool(g.editable, "editable"),
      doc: str(g.doc, "a gate's doc"),
    })),
    rules: m.rules.map((r) => ({ id: str(r.id, "a rule's id"), doc: str(r.doc, "a rule's doc") })),
    templates: m.templates.map((t) => ({
      id: str(t.id, "a template's id"),
      params: t.params.map((p) => ({
        name: str(p.name, "a parameter's name"),
        type: oneOf(p.type, PARAM_TYPES, `parameter ${p.name}'s type`),
        required: bool(p.required, "required"),
        doc: str(p.doc, "a parameter's doc"),
      })),
      body: str(t.body, `template ${t.id}'s body`),
    })),
    needs: {
      commands: strs(m.commands, "the needed commands"),
      settings: m.settings.map((s) => ({
        key: str(s.key, "a setting's key"),
        type: oneOf(s.type, PARAM_TYPES, `setting ${s.key}'s type`),
        default: s.defaultJson(),
        doc: str(s.doc, "a setting's doc"),
      })),
    },
  };
}

function argValue(v, name) {
  if (typeof v === "string") return { tag: "text", val: v };
  if (typeof v === "boolean") return { tag: "boolean", val: v };
  // s64 is lowered from a JS number; past 2^53 it would silently lose digits.
  if (typeof v === "number" && Number.isSafeInteger(v)) return { tag: "integer", val: v };
  return { tag: "text-list", val: strs(v, `template argument ${JSON.stringify(name)}`) };
}

export function nextOut(n) {
  const effect = (e) => ({ tag: "effect", val: { step: str(n.step, "the step's name"), effect: e } });
  switch (n.kind) {
    case "agent":
      return effect({
        tag: "agent",
        val: {
          role: str(n.role, "the role"),
          template: str(n.template, "the template"),
          args: n.args.map((a) => ({ name: a.name, value: argValue(a.value, a.name) })),
          editsTree: bool(n.editsTree, "editsTree"),
        },
      });
    case "command":
      return effect({ tag: "command", val: { name: str(n.name, "the command's name"), retrySafe: n.retrySafe } });
    case "apply-diff":
      return effect({ tag: "apply-diff", val: { sourceKey: str(n.sourceKey, "sourceKey") } });
    case "gate":
      return {
        tag: "gate",
        val: {
          gate: str(n.gate, "the gate's name"),
          summary: str(n.summary, `gate ${n.gate}'s summary`),
          requireHuman: bool(n.requireHuman, "requireHuman"),
        },
      };
    case "finish":
      return { tag: "finish", val: str(n.summary, "the finish text") };
    default:
      return { tag: "fail", val: str(n.reason, "the fail reason") };
  }
}

export function changeOut(c) {
  switch (c.kind) {
    case "phase":
      return { tag: "phase", val: str(c.phase, "a phase") };
    case "put-fact":
      return {
        tag: "put-fact",
        val: { kind: str(c.fact.kind, "a fact's kind"), key: str(c.fact.key, "a fact's key"), value: str(c.fact.value, "a fact's value") },
      };
    case "drop-fact":
      return { tag: "drop-fact", val: { kind: str(c.fact.kind, "a fact's kind"), key: str(c.fact.key, "a fact's key") } };
    default:
      return { tag: "note", val: str(c.text, "a note") };
  }
}

export function violationOut(v) {
  return { rule: str(v.rule, "a violation's rule"), message: str(v.message, "a violation's message"), rows: strs(v.rows, "a violation's rows") };
}

function failureOut(f) {
  return { message: f.message, traceback: f.traceback };
}

// ---- contract -> SDK ----

export function outcomeIn(o) {
  const v = o.val;
  switch (o.tag) {
    case "agent":
      return Object.freeze({ kind: "agent", text: v.text, touched: v.touched, diffHash: v.diffHash ?? null });
    case "diff":
      return Object.freeze({ kind: "diff", applied: v.applied, diffHash: v.diffHash, touched: v.touched, error: v.error ?? null });
    case "command":
      return Object.freeze({ kind: "command", exitCode: v.exitCode, outputTail: v.outputTail });
    default:
      return Object.freeze({
        kind: "gate",
        gate: v.gate,
        approved: v.approved,
        decider: v.decider,
        by: v.by,
        note: v.note ?? null,
        edited: v.edited ?? null,
      });
  }
}

const tickIn = (t) => Object.freeze({ run: t.run, seq: t.seq, unixMs: t.unixMs });
const factIn = (f) => new Fact(f.kind, f.key, f.value, f.tick);
const gateIn = (g) => new Gate(g.id, g.name, g.status, g.decider, g.openedTick, g.decidedBy ?? null, g.note ?? null);
const ledgerIn = (r) => new LedgerEntry(r.key, r.step, r.kind, r.attempt, r.status, r.summary, r.tick);
const orNull = (v, f) => (v === null || v === undefined ? null : f(v));

/** The view's backend over the host's `view` interface: its reads, converted. */
export const viewOver = (hostView) => Object.freeze({
  task: () => {
    const t = hostView.task();
    return Object.freeze({ id: t.id, title: t.title });
  },
  phase: () => hostView.phase(),
  facts: (kind) => hostView.facts(kind).map(factIn),
  fact: (kind, key) => orNull(hostView.fact(kind, key), factIn),
  gates: () => hostView.gates().map(gateIn),
  latestGate: (name) => orNull(hostView.latestGate(name), gateIn),
  ledger: () => hostView.ledger().map(ledgerIn),
  ledgerOf: (step) => hostView.ledgerOf(step).map(ledgerIn),
  ledgerLast: (limit) => hostView.ledgerLast(limit).map(ledgerIn),
  setting: (key) => hostView.setting(key) ?? null,
});

// ---- the exports ----

function out(r, convert) {
  if (r.kind !== "ok") throw failureOut(r.value);
  try {
    return convert(r.value);
  } catch (e) {
    throw failureOut(failureOf(e));
  }
}

/** The `logic` and `rules` exports over `bundle` (from `defineBundle` or `defineRules`),
 * reading through `hostView` and logging to `hostLog` (the contract's interfaces). */
export function makeExports(bundle, hostView, hostLog) {
  installView(viewOver(hostView));
  installLog((level, message) => hostLog.write(level, message));
  const logic = {
    manifest: () => out(callManifest(bundle), manifestOut),
    next: (tick) => out(callNext(bundle, tickIn(tick)), nextOut),
    apply(tick, step, outcome) {
      let r;
      try {
        r = callApply(bundle, tickIn(tick), step, outcomeIn(outcome));
      } catch (e) {
        r = { kind: "failed", value: failureOf(e) };
      }
      if (r.kind === "refused") throw { tag: "refused", val: String(r.value) };
      if (r.kind === "failed") throw { tag: "failed", val: failureOut(r.value) };
      try {
        return r.value.map(changeOut);
      } catch (e) {
        throw { tag: "failed", val: failureOut(failureOf(e)) };
      }
    },
  };
  const rules = {
    check: (tick) => out(callCheck(bundle, tickIn(tick)), (vs) => vs.map(violationOut)),
  };
  return { logic, rules };
}

