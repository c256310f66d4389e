// Run with `node --test` (no wasm, no project): the bundle driven in-process.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Driver, ScriptedView } from "loom-bundle/testing";
import hello from "./hello.js";

test("a greeting is drafted, approved and sent", () => {
  const d = new Driver(hello, "the loom team").reply("writer", "Hello, loom team!");
  let t = d.run().expect("waiting");
  assert.equal(t.waitingOn, "approve");
  assert.match(t.prompts[0][2], /the loom team/);
  t = d.approve("approve").run().expect("done");
  assert.deepEqual(t.phases, ["draft", "approve", "done"]);
  assert.equal(t.reason, "greeted: Hello, loom team!");
});

test("an edited approval replaces the greeting", () => {
  const d = new Driver(hello, "x").reply("writer", "Hi").approve("approve", { edited: "Hello there" });
  assert.equal(d.run().expect("done").reason, "greeted: Hello there");
});

test("a rejected greeting fails the run", () => {
  const d = new Driver(hello, "x").reply("writer", "Hi").reject("approve", "too short");
  assert.deepEqual(d.run().expect("failed").phases, ["draft", "approve", "failed"]);
});

test("an empty reply is refused", () => {
  const t = new Driver(hello, "x").reply("writer", "  ").run().expect("stopped");
  assert.match(t.reason, /the writer's reply is empty/);
});

test("the rule names an empty greeting", () => {
  const v = new ScriptedView({ phase: "approve", facts: { "greeting/text": { text: "" } } });
  const [found] = v.use(() => hello.check(null));
  assert.deepEqual(found.rows, ["fact:greeting/text"]);
});
