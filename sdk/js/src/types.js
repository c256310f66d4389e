// The values a bundle hands loom and the ones it is handed: what comes next, the changes a
// tick makes, violations, and the rows the view returns. Every value the SDK builds carries a
// private brand, so the glue can tell a `NextStep.finish(...)` from a look-alike object and
// say what was expected instead of trapping on a shape the contract does not have.

// Symbol.for: a bundle that resolves its own copy of the SDK still builds values this one knows.
export const BRAND = Symbol.for("loom-bundle.brand");

/** Who decides a gate by default (the policy dial may hand it to another). */
export const Decider = Object.freeze({ HUMAN: "human", AGENT: "agent", RULE: "rule" });
export const Risk = Object.freeze({ LOW: "low", MEDIUM: "medium", HIGH: "high" });
export const GateStatus = Object.freeze({ PENDING: "pending", APPROVED: "approved", REJECTED: "rejected" });
/** A template parameter's or a setting's type. */
export const ParamType = Object.freeze({ TEXT: "text", INTEGER: "integer", BOOLEAN: "boolean", TEXT_LIST: "text-list" });

/** The JSON text the SDK stores: compact, keys sorted, so the same value is the same text. */
export function toJson(value) {
  const text = JSON.stringify(sorted(value));
  if (text === undefined) {
    throw new TypeError(`${typeof value} cannot be stored as JSON`);
  }
  return text;
}

function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v !== null && typeof v === "object" && typeof v.toJSON !== "function") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = sorted(v[k]);
    return out;
  }
  return v;
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`${what} is not JSON (${e.message}): ${JSON.stringify(text.slice(0, 200))}`);
  }
}

function brand(kind, fields) {
  return Object.freeze({ [BRAND]: kind, ...fields });
}

// ---- rows the view returns ----

/** A bundle-defined record (kind, key); `value` is JSON text, `tick` the seq that wrote it. */
export class Fact {
  constructor(kind, key, value, tick) {
    Object.assign(this, { kind, key, value, tick });
    Object.freeze(this);
  }
  /** The value parsed; a value that is not JSON throws, naming the fact. */
  json() {
    return parseJson(this.value, `fact ${this.kind}/${this.key}`);
  }
  /** `"fact:kind/key"`, how a violation names this row. */
  row() {
    return `fact:${this.kind}/${this.key}`;
  }
}

/** One opening of a gate (a gate can open several times in a run). */
export class Gate {
  constructor(id, name, status, decider, openedTick, decidedBy = null, note = null) {
    Object.assign(this, { id, name, status, decider, openedTick, decidedBy, note });
    Object.freeze(this);
  }
  get approved() {
    return this.status === GateStatus.APPROVED;
  }
  /** `"gate:<id>"`, how a violation names this row. */
  row() {
    return `gate:${this.id}`;
  }
}

/** One attempt at one effect (`tick` is the tick's seq). */
export class LedgerEntry {
  constructor(key, step, kind, attempt, status, summary, tick) {
    Object.assign(this, { key, step, kind, attempt, status, summary, tick });
    Object.freeze(this);
  }
  /** `"ledger:<key>#<attempt>"`, how a violation names this row. */
  row() {
    return `ledger:${this.key}#${this.attempt}`;
  }
}

// ---- what comes next ----

/** Template arguments: an object `{name: value}`; a value is a string, an integer, a boolean
 * or an array of strings, and its contract type is taken from its JS type. */
function args(given) {
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    throw new TypeError(`template arguments are an object {name: value}, not ${describe(given)}`);
  }
  return Object.entries(given).map(([name, value]) => {
    argType(value, name);
    return Object.freeze({ name, value });
  });
}

/** The contract type of a template argument, or a TypeError naming it. */
export function argType(value, name) {
  if (typeof value === "string") return ParamType.TEXT;
  if (typeof value === "boolean") return ParamType.BOOLEAN;
  if (typeof value === "number" && Number.isSafeInteger(value)) return ParamType.INTEGER;
  if (Array.isArray(value) && value.every((x) => typeof x === "string")) return ParamType.TEXT_LIST;
  throw new TypeError(
    `template argument ${JSON.stringify(name)} is ${describe(value)}; it is a string, a safe integer, a boolean or an array of strings`,
  );
}

export const NextStep = Object.freeze({
  /** Ask the agent `role` with `template` rendered from `args`. `editsTree`: the agent may
   * edit the working tree itself, and loom records the diff it made. */
  agent(step, role, template, templateArgs = {}, { editsTree = false } = {}) {
    return brand("next", { kind: "agent", step, role, template, args: args(templateArgs), editsTree });
  },
  /** Run the project command `name`. `retrySafe`: running it twice is harmless; otherwise an
   * interrupted run of it goes to a human. */
  command(step, name, { retrySafe }) {
    if (typeof retrySafe !== "boolean") {
      throw new TypeError(`NextStep.command(${JSON.stringify(step)}, ...) needs { retrySafe: true | false }`);
    }
    return brand("next", { kind: "command", step, name, retrySafe });
  },
  /** Apply the unified diff carried in the text result of ledger entry `sourceKey`. */
  applyDiff(step, sourceKey) {
    return brand("next", { kind: "apply-diff", step, sourceKey });
  },
  /** Open gate `gate`, showing the decider `summary`. */
  gate(gate, summary, { requireHuman = false } = {}) {
    return brand("next", { kind: "gate", gate, summary, requireHuman });
  },
  finish(summary) {
    return brand("next", { kind: "finish", summary });
  },
  fail(reason) {
    return brand("next", { kind: "fail", reason });
  },
});

// ---- what a tick changes ----

export const Change = Object.freeze({
  phase(phase) {
    return brand("change", { kind: "phase", phase });
  },
  /** Writes fact (kind, key); `value` is any JSON value, stored with sorted keys. */
  putFact(kind, key, value) {
    return brand("change", { kind: "put-fact", fact: { kind, key, value: toJson(value) } });
  },
  /** Writes fact (kind, key) with exactly `text` as its stored value. */
  putFactText(kind, key, text) {
    return brand("change", { kind: "put-fact", fact: { kind, key, value: text } });
  },
  dropFact(kind, key) {
    return brand("change", { kind: "drop-fact", fact: { kind, key } });
  },
  note(text) {
    return brand("change", { kind: "note", text });
  },
});

/** A broken rule: which, why, and the rows that broke it (`fact.row()`, `gate.row()`). */
export function violation(rule, message, rows = []) {
  return brand("violation", { rule, message, rows: [...rows] });
}

// ---- outcomes handed to `apply` ----
// Plain frozen objects told apart by `kind`: "agent", "diff", "command" or "gate".

export function agentReply(text, { touched = [], diffHash = null } = {}) {
  return Object.freeze({ kind: "agent", text, touched, diffHash });
}
export function diffResult(applied, diffHash, { touched = [], error = null } = {}) {
  return Object.freeze({ kind: "diff", applied, diffHash, touched, error });
}
export function commandResult(exitCode, outputTail = "") {
  return Object.freeze({ kind: "command", exitCode, outputTail });
}
export function gateDecision(gate, approved, { decider = Decider.HUMAN, by = "tester", note = null, edited = null } = {}) {
  return Object.freeze({ kind: "gate", gate, approved, decider, by, note, edited });
}

/** A short description of any value, for error messages. */
export function describe(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") {
    let text;
    try {
      text = JSON.stringify(v);
    } catch {
      text = undefined;
    }
    const shown = text === undefined ? Object.prototype.toString.call(v) : text.slice(0, 120);
    return `an object ${shown}`;
  }
  if (typeof v === "string") return `the string ${JSON.stringify(v.slice(0, 120))}`;
  return `${typeof v} ${String(v)}`;
}
