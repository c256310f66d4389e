"""A test guest whose code raises where the task title says ("raise in next", "raise in apply",
"raise in check"), to show a Python exception reaching loom with its traceback. Without one of
those words it is a one-step bundle: a worker answers, the run finishes."""

from loom_bundle import Bundle, Change, Manifest, NextStep, Param, RuleDecl, Step, Template, log, view


def fail_here(where: str) -> None:
    raise ZeroDivisionError(f"the bundle divided by zero in {where}")


class Faulty(Bundle):
    def manifest(self):
        return (
            Manifest("faulty", "0.1.0")
            .phases("work", "done")
            .step(Step("work", "work", "A worker answers.").agent("worker", "work"))
            .rule(RuleDecl("never", "Raises when the task says so."))
            .template(Template("work", "Do: {{task}}").param(Param.text("task")))
        )

    def next(self, tick):
        title = view.task().title
        if view.phase() == "done":
            return NextStep.finish("worked")
        if "raise in next" in title:
            log.warn("about to fail in next")
            fail_here("next")
        return NextStep.agent("work", "worker", "work", {"task": title})

    def apply(self, tick, step, outcome):
        if "raise in apply" in view.task().title:
            fail_here("apply")
        return [Change.put_fact("answer", "1", {"text": outcome.text}), Change.phase("done")]

    def check(self, tick):
        if "raise in check" in view.task().title and view.phase() == "done":
            fail_here("check")
        return []
