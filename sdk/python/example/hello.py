"""A complete bundle: a writer drafts a greeting, a human approves it."""

from loom_bundle import (
    Bundle, Change, Decider, GateDecl, Manifest, NextStep, Param, Risk, RuleDecl, Step,
    Template, Violation, AgentReply, GateDecision, refuse, view,
)


class Hello(Bundle):
    def manifest(self):
        return (
            Manifest("hello", "0.1.0")
            .phases("draft", "approve", "done", "failed")
            .step(Step("draft", "draft", "A writer drafts a greeting.").agent("writer", "greet"))
            .gate(GateDecl("approve", Decider.HUMAN, Risk.LOW, "Send this greeting?"))
            .rule(RuleDecl("greeting-not-empty", "A stored greeting is never empty."))
            .template(Template("greet", "Write a one-line greeting for: {{task}}").param(Param.text("task", "who to greet")))
        )

    def next(self, tick):
        phase = view.phase()
        if phase == "draft":
            return NextStep.agent("draft", "writer", "greet", {"task": view.task().title})
        if phase == "approve":
            return NextStep.gate("approve", view.fact_json("greeting", "text")["text"])
        if phase == "done":
            return NextStep.finish("greeted")
        return NextStep.fail("the greeting was rejected")

    def apply(self, tick, step, outcome):
        match step, outcome:
            case "draft", AgentReply(text=text):
                if not text.strip():
                    refuse("the writer's reply is empty; a greeting is one line of text")
                return [Change.put_fact("greeting", "text", {"text": text.strip()}), Change.phase("approve")]
            case "approve", GateDecision(approved=approved):
                return [Change.phase("done" if approved else "failed")]
        refuse(f"no outcome of this kind is expected for step {step!r}")

    def check(self, tick):
        fact = view.fact("greeting", "text")
        if fact is not None and not fact.json()["text"]:
            return [Violation("greeting-not-empty", "the writer's greeting is empty", [fact.row()])]
        return []
