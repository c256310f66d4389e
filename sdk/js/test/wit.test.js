import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

const vendored = new URL("../wit/bundle.wit", import.meta.url);
const contract = new URL("../../../wit/0.2.0/bundle.wit", import.meta.url);

test("the SDK builds against exactly the contract in wit/", (t) => {
  if (!existsSync(contract)) return t.skip("not inside a loom checkout");
  assert.equal(readFileSync(vendored, "utf8"), readFileSync(contract, "utf8"), "sdk/js/wit/bundle.wit differs from wit/0.2.0/bundle.wit: copy it over");
});
