// The glue inside the component. Only the entry module that `loom-bundle-build` generates
// imports this: `exportsFor(bundle)` runs once, at build time, and its `logic` and `rules` are
// the component's exports. Every export runs the author's code through `call*` and converts
// the result; anything that goes wrong, in the author's code or in converting what it
// returned, is thrown as the contract's typed error (`failure`, or `apply-error`), never left
// to trap: a trap loses the message.

import hostLog from "loom:bundle/log@0.2.0";
import hostView from "loom:bundle/view@0.2.0";
import { makeExports } from "./convert.js";

export const exportsFor = (bundle) => makeExports(bundle, hostView, hostLog);
