// Defining a bundle, and how each call's result or exception is handed back. Every call into a
// bundle goes through `call*` below, inside loom and in the test harness alike: anything the
// author's code throws becomes a `Failure` with its message and JS stack (loom shows both and
// stops the run), `refuse(reason)` inside `apply` becomes the contract's `refused` error, and a
// return value of the wrong shape is a failure that says what was expected.

import { BRAND, describe } from "./types.js";

// Kept below loom's limits on a fault's text, so a long stack is cut here (its start, where
// the error was thrown, is what is kept) rather than becoming a limit fault of its own.
export const MESSAGE_CHARS_MAX = 4000;
export const TRACEBACK_CHARS_MAX = 16000;

const KIND = Symbol.for("loom-bundle.kind");

/** Thrown by `refuse`: `apply` does not accept this outcome. */
export class Refused extends Error {
  constructor(reason) {
    super(String(reason));
    this.name = "Refused";
    this.reason = String(reason);
  }
}

/** Refuses the outcome `apply` was given (a reply in the wrong format, an edit that makes no
 * sense). An effect's result is recorded as refused and the run stops with `reason`; for a
 * person's gate decision nothing is recorded and they are told `reason`. */
export function refuse(reason) {
  throw new Refused(reason);
}

/** The bundle's own code failed: a thrown error (a bug in the bundle). */
export class Failure {
  constructor(message, traceback = null) {
    this.message = message;
    this.traceback = traceback;
  }
  toString() {
    return this.traceback ? `${this.message}\n${this.traceback}` : this.message;
  }
}

/** A bundle: `manifest()`, `next(tick)`, `apply(tick, step, outcome)` and, if it has rules,
 * `check(tick)`. It keeps nothing between calls that loom would see: anything to remember is
 * a fact (a module-level variable does not survive a replay or a resume). */
export function defineBundle(impl) {
  for (const fn of ["manifest", "next", "apply"]) {
    if (typeof impl?.[fn] !== "function") {
      throw new TypeError(`defineBundle needs a ${fn}() function; it was given ${describe(impl?.[fn] ?? null)}`);
    }
  }
  return Object.freeze({ check: () => [], ...impl, [KIND]: "bundle" });
}

/** Rules alone (world `invariants`), for `loom replay --invariants`: `check(tick)`. */
export function defineRules(impl) {
  if (typeof impl?.check !== "function") {
    throw new TypeError(`defineRules needs a check() function; it was given ${describe(impl?.check ?? null)}`);
  }
  return Object.freeze({ ...impl, [KIND]: "rules" });
}

/** "bundle", "rules", or null for anything else. */
export function kindOf(value) {
  return value?.[KIND] ?? null;
}

// ---- the calls ----
// Each returns {kind: "ok", value}, {kind: "failed", value: Failure} or, from apply only,
// {kind: "refused", value: reason}.

export function failureOf(e) {
  let message;
  let stack = null;
  if (e instanceof Error) {
    message = safe(() => (e.message ? `${e.name}: ${e.message}` : e.name)) ?? "Error";
    stack = safe(() => (typeof e.stack === "string" && e.stack.trim() ? authorFrames(e.stack) : null));
    const cause = safe(() => e.cause);
    if (cause instanceof Error) {
      const inner = failureOf(cause);
      stack = `${stack ?? ""}\nCaused by: ${inner.message}\n${inner.traceback ?? ""}`.trim();
    }
  } else {
    // `throw "text"` and other non-Error values: there is no stack to show.
    message = `thrown value: ${typeof e === "string" ? e : describe(e)}`;
  }
  return new Failure(cut(message, MESSAGE_CHARS_MAX), stack === null ? null : cut(stack, TRACEBACK_CHARS_MAX));
}

// Where this module lives, read off a stack frame: "file:///.../src/bundle.js" natively,
// "/node_modules/loom-bundle/src/bundle.js" inside the component. Frames in that directory
// at the bottom of a stack are the SDK calling the author's code, the same every time.
const SDK_SRC = (() => {
  const frame = (new Error().stack ?? "").split("\n").find((l) => l.includes("bundle.js"));
  const at = frame?.match(/\(?((?:file:\/\/)?\/[^():]*\/)bundle\.js/);
  return at ? at[1] : null;
})();

/** `stack` cut where the SDK's frames that called the author's code begin: the first SDK
 * frame below an author's frame. (An SDK frame above the author's, as when `fact.json()`
 * throws on a bad value, says where it was thrown and is kept.) */
export function authorFrames(stack) {
  if (SDK_SRC === null) return stack;
  const lines = stack.split("\n");
  let author = false;
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s+at /.test(lines[i])) continue;
    if (!lines[i].includes(SDK_SRC)) author = true;
    else if (author) return lines.slice(0, i).join("\n");
  }
  return stack;
}

function safe(fn) {
  try {
    return fn();
  } catch {
    return null;
  }
}

function cut(text, limit) {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

function run(fn) {
  try {
    return { kind: "ok", value: fn() };
  } catch (e) {
    if (e instanceof Refused) return { kind: "refused", value: e.reason };
    return { kind: "failed", value: failureOf(e) };
  }
}

function wrong(what, got, want) {
  return { kind: "failed", value: new Failure(`${what} returned ${describe(got)}; it returns ${want}`) };
}

function notInApply(name, r) {
  return r.kind === "refused"
    ? { kind: "failed", value: new Failure(`refuse() is for apply only; ${name}() called it: ${r.value}`) }
    : r;
}

export function callManifest(bundle) {
  const r = notInApply("manifest", run(() => bundle.manifest()));
  if (r.kind === "ok" && r.value?.[BRAND] !== "manifest") {
    return wrong("manifest()", r.value, "a Manifest (new Manifest(name, version)...)");
  }
  return r;
}

export function callNext(bundle, tick) {
  const r = notInApply("next", run(() => bundle.next(tick)));
  if (r.kind === "ok" && r.value?.[BRAND] !== "next") {
    return wrong("next()", r.value, "a NextStep (NextStep.agent(...), .command(...), .gate(...), .finish(...), .fail(...))");
  }
  return r;
}

export function callApply(bundle, tick, step, outcome) {
  const r = run(() => bundle.apply(tick, step, outcome));
  if (r.kind === "ok") {
    if (!Array.isArray(r.value)) {
      return wrong("apply()", r.value, "an array of Change (Change.phase(...), .putFact(...), ...)");
    }
    const bad = r.value.find((c) => c?.[BRAND] !== "change");
    if (bad !== undefined) return wrong("apply() in its array", bad, "Change values only");
  }
  return r;
}

export function callCheck(rules, tick) {
  const r = notInApply("check", run(() => rules.check(tick)));
  if (r.kind === "ok") {
    if (!Array.isArray(r.value)) return wrong("check()", r.value, "an array of violation(...)");
    const bad = r.value.find((v) => v?.[BRAND] !== "violation");
    if (bad !== undefined) return wrong("check() in its array", bad, "violation(...) values only");
  }
  return r;
}
