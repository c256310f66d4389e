// The build command, when componentize-qjs is installed ($LOOM_JS_TOOLS names its npm prefix;
// in CI, CI=true, it must be).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { BuildError, build } from "../src/build.js";
import { componentImports } from "../src/component.js";

const tools = process.env.LOOM_JS_TOOLS;
function needTools(t) {
  if (tools) return true;
  if (process.env.CI === "true") assert.fail("CI installs componentize-qjs and sets LOOM_JS_TOOLS");
  t.skip("LOOM_JS_TOOLS is not set (an npm prefix holding componentize-qjs)");
  return false;
}

test("the example builds into a component that imports loom:bundle only", async (t) => {
  if (!needTools(t)) return;
  const dir = mkdtempSync(join(tmpdir(), "loom-js-build-"));
  try {
    const hello = fileURLToPath(new URL("../example/hello.js", import.meta.url));
    const { output, world } = await build(hello, join(dir, "hello.wasm"), { tools });
    assert.equal(world, "bundle");
    const bytes = readFileSync(output);
    assert.deepEqual(componentImports(bytes), ["loom:bundle/types@0.2.0", "loom:bundle/view@0.2.0", "loom:bundle/log@0.2.0"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a misdeclared manifest fails the build, naming each problem", async (t) => {
  if (!needTools(t)) return;
  const dir = mkdtempSync(join(tmpdir(), "loom-js-build-"));
  try {
    writeFileSync(
      join(dir, "bad.js"),
      'import { Manifest, NextStep, Step, defineBundle } from "loom-bundle";\n' +
        'export default defineBundle({ manifest: () => new Manifest("bad", "1").phases("a").step(new Step("s", "nowhere")), next: () => NextStep.finish(""), apply: () => [] });\n',
    );
    await assert.rejects(build(join(dir, "bad.js"), join(dir, "bad.wasm"), { tools }), (e) => e instanceof BuildError && /step "s" is in phase "nowhere"/.test(e.message));
    writeFileSync(join(dir, "none.js"), "export default 1;\n");
    await assert.rejects(build(join(dir, "none.js"), join(dir, "none.wasm"), { tools }), /must `export default` a defineBundle/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
