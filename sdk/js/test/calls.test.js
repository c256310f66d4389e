// The calls into a bundle: what author code returns or throws, as loom is handed it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Change, Manifest, NextStep, defineBundle, defineRules, refuse, violation } from "loom-bundle";
import { callApply, callCheck, callManifest, callNext, failureOf } from "loom-bundle/testing";

const base = { manifest: () => new Manifest("b", "1").phases("p"), next: () => NextStep.finish("ok"), apply: () => [] };

test("a thrown Error becomes a failure with its name, message and stack", () => {
  function deep() {
    throw new TypeError("no such field");
  }
  const r = callNext(defineBundle({ ...base, next: () => deep() }), null);
  assert.equal(r.kind, "failed");
  assert.equal(r.value.message, "TypeError: no such field");
  assert.match(r.value.traceback, /at deep \(/);
});

test("a thrown non-Error value is named, with no stack", () => {
  const r = callNext(defineBundle({ ...base, next: () => { throw "plain text"; } }), null);
  assert.deepEqual([r.value.message, r.value.traceback], ["thrown value: plain text", null]);
});

test("an error's cause is shown after its stack", () => {
  const r = callNext(defineBundle({ ...base, next: () => { throw new Error("outer", { cause: new Error("inner") }); } }), null);
  assert.match(r.value.traceback, /Caused by: Error: inner/);
});

test("a long message is cut below loom's limit", () => {
  const f = failureOf(new Error("x".repeat(10_000)));
  assert.equal(f.message.length, 4000);
});

test("refuse() in apply is a refusal, elsewhere a failure", () => {
  const b = defineBundle({ ...base, apply: () => refuse("wrong format"), next: () => refuse("no") });
  assert.deepEqual(callApply(b, null, "s", {}), { kind: "refused", value: "wrong format" });
  const r = callNext(b, null);
  assert.equal(r.kind, "failed");
  assert.match(r.value.message, /refuse\(\) is for apply only; next\(\) called it: no/);
});

test("a return value of the wrong shape is a failure that says what was expected", () => {
  const b = defineBundle({ ...base, next: () => ({ kind: "finish", summary: "look-alike" }), apply: () => [{ kind: "phase" }] });
  assert.match(callNext(b, null).value.message, /next\(\) returned an object .*; it returns a NextStep/);
  assert.match(callApply(b, null, "s", {}).value.message, /Change values only/);
  assert.match(callManifest(defineBundle({ ...base, manifest: () => ({}) })).value.message, /a Manifest/);
  const rules = defineRules({ check: () => "none" });
  assert.match(callCheck(rules, null).value.message, /check\(\) returned the string "none"/);
});

test("builders check what the contract cannot carry", () => {
  assert.throws(() => NextStep.agent("s", "r", "t", { n: 1.5 }), /safe integer/);
  assert.throws(() => NextStep.command("s", "test", {}), /retrySafe/);
  assert.equal(Change.putFact("k", "a", { b: 1, a: [2] }).fact.value, '{"a":[2],"b":1}');
  assert.deepEqual(violation("r", "m", ["fact:k/a"]).rows, ["fact:k/a"]);
  assert.throws(() => defineBundle({ manifest() {} }), /needs a next\(\) function/);
});

test("the stack ends at the author's code: the SDK's frames that called it are cut", () => {
  function author() {
    throw new Error("here");
  }
  const r = callNext(defineBundle({ ...base, next: () => author() }), null);
  const frames = r.value.traceback.split("\n").filter((l) => /^\s+at /.test(l));
  assert.match(frames[0], /at author \(/);
  assert.ok(!frames.some((l) => l.includes("/src/bundle.js")), r.value.traceback);
});
