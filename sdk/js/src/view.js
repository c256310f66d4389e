// The read-only view of the run, as the tick sees it (its own writes included). Inside loom
// these functions read through the host; in a native test they read a `ScriptedView`
// (`loom-bundle/testing`) or the Driver's state. Lists are ordered: facts by key, gates and
// ledger rows oldest first. Prefer the bounded reads (`latestGate`, `ledgerOf`, `ledgerLast`):
// `gates()` and `ledger()` grow with the run.

let backend = null;

export class NoView extends Error {
  constructor() {
    super(
      "the view is read inside loom or a test harness only; in a native test, run the call " +
        "inside `new ScriptedView({...}).use(() => ...)` (loom-bundle/testing) or drive the " +
        "bundle with `new Driver(...)`",
    );
    this.name = "NoView";
  }
}

function b() {
  if (backend === null) throw new NoView();
  return backend;
}

/** Makes `next` the view while `fn` runs (nests; restores the previous one). */
export function useView(next, fn) {
  const previous = backend;
  backend = next;
  try {
    return fn();
  } finally {
    backend = previous;
  }
}

/** Makes `next` the view for good: the guest glue does this once, at build time. */
export function installView(next) {
  backend = next;
}

export const task = () => b().task();
export const phase = () => b().phase();
/** Every fact of `kind`, ordered by key. */
export const facts = (kind) => b().facts(kind);
export const fact = (kind, key) => b().fact(kind, key);
/** Every opening of every gate, oldest first (grows with the run: prefer `latestGate`). */
export const gates = () => b().gates();
/** The latest opening of gate `name`, or null. */
export const latestGate = (name) => b().latestGate(name);
/** Every ledger row, oldest first (grows with the run: prefer `ledgerOf` / `ledgerLast`). */
export const ledger = () => b().ledger();
/** The ledger rows of `step`, oldest first. */
export const ledgerOf = (step) => b().ledgerOf(step);
/** The newest `limit` ledger rows, oldest first. */
export const ledgerLast = (limit) => b().ledgerLast(limit);
/** The project's `[bundle]` setting `key` as JSON text, or null if unset. */
export const setting = (key) => b().setting(key);

/** Fact (kind, key) parsed from JSON, or `fallback` when there is no such fact. A value that
 * is not JSON throws rather than passing for absent. */
export function factJson(kind, key, fallback = null) {
  const f = fact(kind, key);
  return f === null ? fallback : f.json();
}

/** Setting `key` parsed from JSON, or `fallback` when the project sets none. */
export function settingJson(key, fallback = null) {
  const text = setting(key);
  if (text === null) return fallback;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`setting ${JSON.stringify(key)} is not JSON (${e.message}): ${text.slice(0, 200)}`);
  }
}
