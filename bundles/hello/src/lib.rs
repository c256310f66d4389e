//! `hello`: the example bundle of the loom-sdk README, kept as a crate so the example is
//! built, run and tested, and loom's tests have a guest that uses the SDK the way an author
//! does (its panic hook, `log`, needs, an editable gate, the test harness).
//!
//! draft (a `writer` agent drafts a greeting) → approve (a person, who may edit it) → done.
//! A task whose title contains `panic` makes `next` panic, to show where the message goes.

use loom_sdk::{
    arg, log, view, ApplyError, Bundle, Change, Decider, Failure, GateDecl, Manifest, NextStep,
    Outcome, Param, Risk, RuleDecl, SettingDecl, StepDecl, Template, TickToken, Violation,
};
use serde_json::json;

pub struct Hello;

fn greeting() -> Option<String> {
    let fact = view::fact("greeting", "text")?;
    Some(fact.json()?["text"].as_str()?.to_owned())
}

/// Setting `sign-off`: the project's, else the default the manifest declares.
fn sign_off() -> Result<String, Failure> {
    let text = view::setting("sign-off").ok_or("setting sign-off has no value")?;
    Ok(serde_json::from_str(&text)?)
}

impl Bundle for Hello {
    fn manifest() -> Manifest {
        Manifest::new("hello", "0.1.0")
            .phases(&["draft", "approve", "done", "failed"])
            .step(
                StepDecl::new("draft", "draft", "A writer drafts a greeting.")
                    .agent("writer", "greet"),
            )
            .gate(
                GateDecl::new("approve", Decider::Human, Risk::Low, "Send this greeting?")
                    .editable(),
            )
            .rule(RuleDecl::new(
                "greeting-not-empty",
                "A stored greeting is never empty.",
            ))
            .rule(RuleDecl::new(
                "greeting-one-line",
                "A stored greeting is one line, whoever wrote it.",
            ))
            .template(
                Template::new("greet", "Write a one-line greeting for: {{task}}")
                    .param(Param::text("task", "who to greet")),
            )
            .setting(SettingDecl::text("sign-off", "what the greeting ends with").default("— loom"))
    }

    fn next(_tick: TickToken) -> Result<NextStep, Failure> {
        let task = view::task();
        if task.title.contains("panic") {
            log::info("about to panic, as the task asks");
            panic!("hello was asked to panic");
        }
        Ok(match view::phase().as_str() {
            "draft" => NextStep::agent(
                "draft",
                "writer",
                "greet",
                vec![arg::text("task", task.title)],
            ),
            "approve" => {
                let text = greeting().ok_or("phase approve without a greeting")?;
                NextStep::gate("approve", format!("{text} {}", sign_off()?), false)
            }
            "done" => NextStep::Finish("greeted".into()),
            "failed" => NextStep::Fail("the greeting was rejected".into()),
            other => return Err(Failure::new(format!("unknown phase `{other}`"))),
        })
    }

    fn apply(_tick: TickToken, step: String, outcome: Outcome) -> Result<Vec<Change>, ApplyError> {
        match (step.as_str(), outcome) {
            ("draft", Outcome::Agent(reply)) => Ok(vec![
                Change::put_fact("greeting", "text", &json!({ "text": reply.text.trim() })),
                Change::phase("approve"),
            ]),
            ("approve", Outcome::Gate(d)) if d.approved => {
                let mut changes = vec![Change::phase("done")];
                // An approval with edits: the person's text replaces the draft.
                if let Some(edited) = d.edited {
                    changes.push(Change::put_fact(
                        "greeting",
                        "text",
                        &json!({ "text": edited }),
                    ));
                }
                Ok(changes)
            }
            ("approve", Outcome::Gate(_)) => Ok(vec![Change::phase("failed")]),
            (step, _) => Err(ApplyError::refused(format!(
                "no outcome of this kind is expected for step `{step}`"
            ))),
        }
    }

    fn check(_tick: TickToken) -> Result<Vec<Violation>, Failure> {
        let Some(fact) = view::fact("greeting", "text") else {
            return Ok(vec![]);
        };
        let text = greeting().unwrap_or_default();
        // The rules see an approval's edits too: a person's text is refused like a writer's.
        Ok(if text.is_empty() {
            vec![Violation::new(
                "greeting-not-empty",
                "the writer's greeting is empty",
                vec![fact.row()],
            )]
        } else if text.trim().contains('\n') {
            vec![Violation::new(
                "greeting-one-line",
                "a greeting is sent as one line; this one has several",
                vec![fact.row()],
            )]
        } else {
            vec![]
        })
    }
}

loom_sdk::bundle!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use loom_sdk::testing::{End, Harness, View};

    #[test]
    fn an_approved_greeting_is_done() {
        let trace = Harness::<Hello>::new(View::new().task("the loom team"))
            .reply("writer", "Hello, loom team!")
            .approve("approve")
            .run();
        assert_eq!(trace.phases(), ["draft", "approve", "done"]);
        assert_eq!(trace.steps(), ["draft", "approve"]);
        assert_eq!(trace.end, End::Finished("greeted".into()));
        // The gate showed the greeting with the declared default sign-off.
        let shown = trace.ticks.iter().find_map(|t| match &t.step {
            NextStep::Gate(g) => Some(g.summary.clone()),
            _ => None,
        });
        assert_eq!(shown.as_deref(), Some("Hello, loom team! — loom"));
    }

    #[test]
    fn the_project_setting_wins_over_the_default() {
        let view = View::new().setting("sign-off", &json!("— ann"));
        let trace = Harness::<Hello>::new(view).reply("writer", "Hi").run();
        assert_eq!(
            trace.end,
            End::Waiting {
                gate: "approve".into()
            }
        );
        assert!(
            matches!(&trace.ticks[1].step, NextStep::Gate(g) if g.summary == "Hi — ann"),
            "{:?}",
            trace.ticks
        );
    }

    #[test]
    fn an_edited_approval_replaces_the_draft_and_a_rejection_fails() {
        let trace = Harness::<Hello>::new(View::new())
            .reply("writer", "Hi")
            .approve_edited("approve", "Hello there")
            .run();
        assert_eq!(trace.end, End::Finished("greeted".into()));
        let text = trace.view.facts_of("greeting")[0].value.clone();
        assert_eq!(text, r#"{"text":"Hello there"}"#);

        let trace = Harness::<Hello>::new(View::new())
            .reply("writer", "Hi")
            .reject("approve", "too short")
            .run();
        assert_eq!(trace.phases(), ["draft", "approve", "failed"]);
        assert_eq!(trace.end, End::Failed("the greeting was rejected".into()));
    }

    #[test]
    fn an_empty_greeting_breaks_the_rule_and_its_tick_is_not_applied() {
        let trace = Harness::<Hello>::new(View::new())
            .reply("writer", "   ")
            .run();
        assert!(
            matches!(&trace.end, End::Violated(v) if v[0].rule == "greeting-not-empty"),
            "{:?}",
            trace.end
        );
        assert_eq!(trace.view.current_phase(), "draft");
        assert!(trace.view.facts_of("greeting").is_empty());
    }

    #[test]
    fn an_edit_of_several_lines_breaks_a_rule_and_the_draft_stays() {
        let trace = Harness::<Hello>::new(View::new())
            .reply("writer", "Hi")
            .approve_edited("approve", "Hello\nthere")
            .run();
        assert!(
            matches!(&trace.end, End::Violated(v) if v[0].rule == "greeting-one-line"),
            "{:?}",
            trace.end
        );
        assert_eq!(trace.view.current_phase(), "approve");
        let text = trace.view.facts_of("greeting")[0].value.clone();
        assert_eq!(text, r#"{"text":"Hi"}"#);
    }

    #[test]
    fn what_the_script_lacks_is_named() {
        let trace = Harness::<Hello>::new(View::new()).run();
        assert!(
            matches!(&trace.end, End::Unscripted { step, what } if step == "draft" && what.contains("`writer`")),
            "{:?}",
            trace.end
        );
    }

    #[test]
    fn an_unknown_phase_is_a_failure() {
        let trace = Harness::<Hello>::new(View::new().phase("nowhere")).run();
        assert_eq!(
            trace.end,
            End::Fault(Failure::new("unknown phase `nowhere`"))
        );
    }
}
