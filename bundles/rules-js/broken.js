// A rule with a bug, for the end-to-end test that a JS exception in `check` reaches loom's
// message with its text and stack: it throws once the run reaches review.

import { defineRules, view } from "loom-bundle";

function verdictOf(tick) {
  throw new Error(`no review verdict is recorded at tick ${tick.seq}`);
}

export default defineRules({
  check(tick) {
    return view.phase() === "review" ? verdictOf(tick) : [];
  },
});
