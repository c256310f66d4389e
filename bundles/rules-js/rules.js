// Team rules for the `code` bundle's runs, stricter than the bundle's own: replay a recorded
// run against them (`loom replay --invariants rules.wasm`) to see the first tick that would
// have broken one.

import { Decider, GateStatus, defineRules, view, violation } from "loom-bundle";

export const FIX_NEEDS_HUMAN_PLAN = "fix-rounds-need-a-human-plan";
export const TESTS_BEFORE_ACCEPT = "tests-pass-before-accept";

export default defineRules({
  check(tick) {
    return [...fixNeedsHumanPlan(), ...testsBeforeAccept()];
  },
});

/** A run whose first diff needed a fix round must have had its plan approved by a person:
 * a plan a rule or an agent waved through is what the team reviews when the diff was wrong. */
function fixNeedsHumanPlan() {
  const [fix] = view.ledgerOf("fix");
  if (fix === undefined) return [];
  const plan = view.latestGate("plan");
  if (plan !== null && plan.status === GateStatus.APPROVED && plan.decider === Decider.HUMAN) return [];
  const how = plan === null ? "no plan gate was opened" : `the plan (gate #${plan.id}) was ${plan.status} by ${plan.decider} \`${plan.decidedBy ?? "unknown"}\``;
  return [
    violation(FIX_NEEDS_HUMAN_PLAN, `the implementer needed a fix round (${fix.key}) and ${how}, not by a human`, [fix.row(), ...(plan ? [plan.row()] : [])]),
  ];
}

/** The accept gate opens only after the project's tests ran and passed since the last diff. */
function testsBeforeAccept() {
  const accept = view.latestGate("accept");
  if (accept === null) return [];
  const tests = view.ledgerOf("test").filter((r) => r.status === "done" && r.tick < accept.openedTick);
  if (tests.length) return [];
  return [violation(TESTS_BEFORE_ACCEPT, `the accept gate (#${accept.id}) opened before any test run`, [accept.row()])];
}
