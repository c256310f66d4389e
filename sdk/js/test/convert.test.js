// The component's exports over a fake host: the shapes componentize-qjs lowers, and every
// failure thrown as the contract's typed error.
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeExports } from "../src/convert.js";
import hello from "../example/hello.js";
import faulty from "./guest/faulty.js";

function host({ title = "the team", phase = "draft", facts = {} } = {}) {
  const lines = [];
  const view = {
    task: () => ({ id: 1, title }),
    phase: () => phase,
    fact: (kind, key) => (facts[`${kind}/${key}`] === undefined ? null : { kind, key, value: facts[`${kind}/${key}`], tick: 3 }),
    latestGate: () => null,
  };
  return { view, log: { write: (level, message) => lines.push(`${level}: ${message}`) }, lines };
}
const tick = { run: 1, seq: 4, unixMs: 1000 };

test("the manifest, a next step and changes in the contract's shapes", () => {
  const h = host();
  const { logic } = makeExports(hello, h.view, h.log);
  const m = logic.manifest();
  assert.deepEqual(m.gates[0], { name: "approve", decider: "human", risk: "low", role: null, editable: true, doc: "Send this greeting?" });
  assert.deepEqual(m.templates[0].params[0], { name: "task", type: "text", required: true, doc: "who to greet" });
  assert.deepEqual(m.needs, { commands: [], settings: [] });
  assert.deepEqual(logic.next(tick), {
    tag: "effect",
    val: { step: "draft", effect: { tag: "agent", val: { role: "writer", template: "greet", args: [{ name: "task", value: { tag: "text", val: "the team" } }], editsTree: false } } },
  });
  const changes = logic.apply(tick, "draft", { tag: "agent", val: { text: " Hi! ", touched: [], diffHash: null } });
  assert.deepEqual(changes, [
    { tag: "put-fact", val: { kind: "greeting", key: "text", value: '{"text":"Hi!"}' } },
    { tag: "phase", val: "approve" },
  ]);
  assert.deepEqual(h.lines, ["info: drafted at tick 4"]);
});

test("a refusal and a failure in apply are the two apply-error cases", () => {
  const h = host();
  const { logic } = makeExports(hello, h.view, h.log);
  assert.throws(
    () => logic.apply(tick, "draft", { tag: "agent", val: { text: "  ", touched: [], diffHash: null } }),
    (e) => e.tag === "refused" && /reply is empty/.test(e.val),
  );
  const f = makeExports(faulty, host({ title: "throw in apply" }).view, h.log);
  assert.throws(
    () => f.logic.apply(tick, "work", { tag: "agent", val: { text: "ok", touched: [], diffHash: null } }),
    (e) => e.tag === "failed" && e.val.message === "RangeError: the bundle fell over in apply" && /at failHere/.test(e.val.traceback),
  );
});

test("a throw in next or check is thrown as a failure record", () => {
  const h = host({ title: "throw in next" });
  const { logic } = makeExports(faulty, h.view, h.log);
  assert.throws(() => logic.next(tick), (e) => e.message === "RangeError: the bundle fell over in next" && typeof e.traceback === "string");
  assert.deepEqual(h.lines, ["warn: about to fail in next"]);
  const { rules } = makeExports(faulty, host({ title: "throw in check", phase: "done" }).view, h.log);
  assert.throws(() => rules.check(tick), (e) => e.message === "RangeError: the bundle fell over in check");
});

test("a violation in the contract's shape", () => {
  const h = host({ phase: "approve", facts: { "greeting/text": '{"text":""}' } });
  const { rules } = makeExports(hello, h.view, h.log);
  assert.deepEqual(rules.check(tick), [{ rule: "greeting-not-empty", message: "the writer's greeting is empty", rows: ["fact:greeting/text"] }]);
});
