// loom-bundle: write a loom bundle (world `bundle`) or a rules set (world `invariants`) in
// JavaScript. See README.md beside this package.

export { Failure, Refused, defineBundle, defineRules, refuse } from "./bundle.js";
export { GateDecl, Manifest, Param, RuleDecl, Setting, Step, Template } from "./manifest.js";
export {
  Change,
  Decider,
  Fact,
  Gate,
  GateStatus,
  LedgerEntry,
  NextStep,
  ParamType,
  Risk,
  agentReply,
  commandResult,
  diffResult,
  gateDecision,
  toJson,
  violation,
} from "./types.js";
export * as view from "./view.js";
export * as log from "./log.js";
