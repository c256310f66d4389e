#!/usr/bin/env node
// loom-bundle-build APP.js -o OUT.wasm [--world bundle|invariants] [--root DIR] [--tools DIR] [-q]
import { parseArgs } from "node:util";
import { BuildError, COMPONENTIZE_QJS_VERSION, build } from "../src/build.js";

const usage = `usage: loom-bundle-build APP.js -o OUT.wasm [--world bundle|invariants] [--root DIR] [--tools DIR] [-q]

Builds a JavaScript loom bundle (APP's default export: defineBundle or defineRules) into a
component with componentize-qjs ${COMPONENTIZE_QJS_VERSION}.
  -o, --output   the component to write
  --world        default: bundle for defineBundle, invariants for defineRules
  --root         the directory staged with APP (default: APP's directory)
  --tools        an npm prefix where componentize-qjs@${COMPONENTIZE_QJS_VERSION} is installed (or $LOOM_JS_TOOLS)
  -q, --quiet    print nothing on success`;

let a;
try {
  a = parseArgs({
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      world: { type: "string" },
      root: { type: "string" },
      tools: { type: "string" },
      quiet: { type: "boolean", short: "q" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (e) {
  console.error(`error: ${e.message}\n${usage}`);
  process.exit(2);
}
if (a.values.help) {
  console.log(usage);
  process.exit(0);
}
if (a.positionals.length !== 1 || !a.values.output) {
  console.error(usage);
  process.exit(2);
}
try {
  const started = Date.now();
  const { output, bytes } = await build(a.positionals[0], a.values.output, a.values);
  if (!a.values.quiet) console.log(`built ${output} (${(bytes / 1e6).toFixed(1)} MB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  console.error(`error: ${e.message}`);
  process.exit(1);
}
