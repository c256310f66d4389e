// Native tests of a bundle, under plain `node --test`: no wasm, no project. `ScriptedView` is a
// view double for calling one function; `Driver` runs the whole bundle tick by tick.

export { ScriptedView } from "./scripted.js";
export { Driver, SetupError, Trace } from "./harness.js";
export { manifestProblems, render } from "./checks.js";
export { callApply, callCheck, callManifest, callNext, failureOf } from "./bundle.js";
export { useLog } from "./log.js";
