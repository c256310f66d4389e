// The glue inside the component. Only the entry module that `loom-bundle-build` generates
// imports this: `exportsFor(bundle)` runs once, at build time, and its `logic` and `rules` are
// the component's exports. Every export runs the author's code through `call*` and converts
// the result; anything that goes wrong, in the author's code or in converting what it
// returned, is thrown as the contract's typed error (`failure`, or `apply-error`), never left
// to trap: a trap loses the message.

import hostLog from "loom:bundle/log@0.2.0";
import hostView from "loom:bundle/view@0.2.0";
import { makeExports } from "./convert.js";

export function exportsFor(bundle) {
  noClock();
  return makeExports(bundle, hostView, hostLog);
}

/** Reading the clock (`Date.now()`, `new Date()`, `Date()`) reaches the stubbed WASI clock,
 * which traps: the call would fail as `unreachable`, its message lost. Each throws an Error
 * saying where the time comes from instead. A date built from a given time still works. */
function noClock() {
  const RealDate = Date;
  const refuse = () => {
    throw new Error("a bundle has no clock: take the time from the tick (tick.unixMs)");
  };
  RealDate.now = refuse;
  globalThis.Date = new Proxy(RealDate, {
    apply: refuse,
    construct(target, args, newTarget) {
      if (args.length === 0) refuse();
      return Reflect.construct(target, args, newTarget);
    },
  });
}
