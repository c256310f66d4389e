// `npm install` here first (it links the SDK), then `node --test tests/`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Decider, Gate, GateStatus } from "loom-bundle";
import { ScriptedView } from "loom-bundle/testing";
import rules, { FIX_NEEDS_HUMAN_PLAN, TESTS_BEFORE_ACCEPT } from "../rules.js";

const tick = { run: 1, seq: 9, unixMs: 0 };

function run({ planBy = Decider.RULE, fix = true, tested = true } = {}) {
  const v = new ScriptedView({ phase: "accept", gates: [new Gate(3, "plan", GateStatus.APPROVED, planBy, 3, planBy === Decider.HUMAN ? "ann" : "rule")] });
  v.addLedger("plan", { tick: 2 });
  if (fix) v.addLedger("fix", { tick: 7 });
  if (tested) v.addLedger("test", { kind: "command", tick: 10 });
  v.openGate("accept", { tick: 11 });
  return v.use(() => rules.check(tick));
}

test("a fix round after a plan a rule approved fires, naming both rows", () => {
  const [v] = run();
  assert.equal(v.rule, FIX_NEEDS_HUMAN_PLAN);
  assert.deepEqual(v.rows, ["ledger:r1/fix#1#1", "gate:3"]);
  assert.match(v.message, /approved by rule `rule`, not by a human/);
});

test("a human-approved plan, or no fix round, passes", () => {
  assert.deepEqual(run({ planBy: Decider.HUMAN }), []);
  assert.deepEqual(run({ fix: false }), []);
});

test("an accept gate with no test run before it fires", () => {
  const found = run({ fix: false, tested: false });
  assert.deepEqual(found.map((v) => [v.rule, v.rows]), [[TESTS_BEFORE_ACCEPT, ["gate:11"]]]);
});
