// A test guest that throws where its task title says ("throw in next", "throw in apply",
// "throw in check"), or reads the clock ("read the clock"), so a test can see a JS exception
// reach loom's message with its stack.

import { Change, Manifest, NextStep, Param, Step, Template, defineBundle, log, view } from "loom-bundle";

function failHere(where) {
  throw new RangeError(`the bundle fell over in ${where}`);
}

export default defineBundle({
  manifest() {
    return new Manifest("faulty-js", "0.1.0")
      .phases("work", "done")
      .step(new Step("work", "work", "A worker does the task.").agent("worker", "do"))
      .template(new Template("do", "Do: {{task}}").param(Param.text("task")));
  },
  next(tick) {
    const title = view.task().title;
    if (title === "throw in next") {
      log.warn("about to fail in next");
      failHere("next");
    }
    if (title === "read the clock") return NextStep.finish(`it is ${Date.now()}`);
    if (view.phase() === "done") return NextStep.finish("done");
    return NextStep.agent("work", "worker", "do", { task: title });
  },
  apply(tick, step, outcome) {
    if (view.task().title === "throw in apply") failHere("apply");
    return [Change.phase("done")];
  },
  check(tick) {
    if (view.task().title === "throw in check" && view.phase() === "done") failHere("check");
    return [];
  },
});
