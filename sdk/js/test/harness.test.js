// The Driver runs a bundle as loom does: commands, settings, gates by policy, rules, faults.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Change, Decider, GateDecl, Manifest, NextStep, Risk, RuleDecl, Setting, Step, defineBundle, view, violation } from "loom-bundle";
import { Driver, SetupError } from "loom-bundle/testing";

const tests = defineBundle({
  manifest: () =>
    new Manifest("t", "1")
      .phases("test", "ship", "done", "failed")
      .step(new Step("test", "test", "Run the tests."))
      .gate(new GateDecl("ship", Decider.AGENT, Risk.MEDIUM, "Ship it?"))
      .rule(new RuleDecl("green-before-ship"))
      .needsCommand("test")
      .setting(Setting.integer("rounds", 2)),
  next() {
    const phase = view.phase();
    if (phase === "test") return NextStep.command("test", "test", { retrySafe: true });
    if (phase === "ship") return NextStep.gate("ship", "ship it");
    return phase === "done" ? NextStep.finish("shipped") : NextStep.fail(`red after ${view.settingJson("rounds")} rounds`);
  },
  apply(tick, step, o) {
    if (o.kind === "command") {
      const runs = view.ledgerOf("test").length;
      if (o.exitCode === 0) return [Change.putFact("tests", "green", true), Change.phase("ship")];
      return runs >= view.settingJson("rounds") ? [Change.phase("failed")] : [];
    }
    return [Change.phase(o.approved ? "done" : "failed")];
  },
  check() {
    const g = view.latestGate("ship");
    return g && view.fact("tests", "green") === null ? [violation("green-before-ship", "shipped red", [g.row()])] : [];
  },
});

test("a command's scripted results, then an agent's APPROVE", () => {
  const d = new Driver(tests, "x", { commands: { test: 0 }, settings: { rounds: 3 } }).command("test", 1).command("test", 0).reply("gatekeeper", "APPROVE\nlooks fine");
  const t = d.run().expect("done");
  assert.deepEqual(t.commands, ["test", "test"]);
  assert.deepEqual(t.phases, ["test", "ship", "done"]);
});

test("the run fails after the configured rounds", () => {
  const t = new Driver(tests, "x", { commands: { test: 1 }, settings: { rounds: 2 } }).run().expect("failed");
  assert.equal(t.reason, "red after 2 rounds");
});

test("the policy dial and a per-gate decider", () => {
  const d = new Driver(tests, "x", { commands: { test: 0 }, policy: "manual" });
  assert.equal(d.run().expect("waiting").waitingOn, "ship");
  const r = new Driver(tests, "x", { commands: { test: 0 }, gateDeciders: { ship: Decider.RULE } });
  assert.equal(r.run().expect("done").ticks.find((t) => t.kind === "decision").summary, "ship approved by rule");
});

test("what the project lacks is a setup error", () => {
  assert.throws(() => new Driver(tests, "x"), (e) => e instanceof SetupError && /give its result in new Driver/.test(e.message));
  assert.throws(() => new Driver(tests, "x", { commands: { test: 0 }, settings: { round: 1 } }), /setting "round" is not one the bundle reads/);
});
