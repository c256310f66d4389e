// A complete bundle: a writer drafts a greeting, a human approves it, and a rule keeps the
// stored greeting non-empty.
//
//   loom-bundle-build example/hello.js -o hello.wasm --tools DIR
//   loom run --bundle hello.wasm "the loom team"

import { Change, Decider, GateDecl, Manifest, NextStep, Param, Risk, RuleDecl, Step, Template, defineBundle, log, refuse, view, violation } from "loom-bundle";

export default defineBundle({
  manifest() {
    return new Manifest("hello-js", "0.1.0")
      .phases("draft", "approve", "done", "failed")
      .step(new Step("draft", "draft", "A writer drafts a greeting.").agent("writer", "greet"))
      .gate(new GateDecl("approve", Decider.HUMAN, Risk.LOW, "Send this greeting?").editableSummary())
      .rule(new RuleDecl("greeting-not-empty", "A stored greeting is never empty."))
      .template(new Template("greet", "Write a one-line greeting for: {{task}}").param(Param.text("task", "who to greet")));
  },

  next(tick) {
    switch (view.phase()) {
      case "draft":
        return NextStep.agent("draft", "writer", "greet", { task: view.task().title });
      case "approve":
        return NextStep.gate("approve", view.factJson("greeting", "text").text);
      case "done":
        return NextStep.finish(`greeted: ${view.factJson("greeting", "text").text}`);
      default:
        return NextStep.fail("the greeting was rejected");
    }
  },

  apply(tick, step, outcome) {
    if (step === "draft" && outcome.kind === "agent") {
      const text = outcome.text.trim();
      if (!text) refuse("the writer's reply is empty; a greeting is one line of text");
      log.info(`drafted at tick ${tick.seq}`);
      return [Change.putFact("greeting", "text", { text }), Change.phase("approve")];
    }
    if (step === "approve" && outcome.kind === "gate") {
      if (!outcome.approved) return [Change.phase("failed")];
      // An editable gate: the person may approve their own wording instead.
      const changes = outcome.edited === null ? [] : [Change.putFact("greeting", "text", { text: outcome.edited })];
      return [...changes, Change.phase("done")];
    }
    refuse(`no ${outcome.kind} outcome is expected for step ${JSON.stringify(step)}`);
  },

  check(tick) {
    const fact = view.fact("greeting", "text");
    if (fact !== null && !fact.json().text) {
      return [violation("greeting-not-empty", "the writer's greeting is empty", [fact.row()])];
    }
    return [];
  },
});
