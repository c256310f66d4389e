//! The state machine, path by path.

use loom_sdk::{ArgValue, Decider, Effect, NextStep};
use serde_json::json;

use super::harness::*;

fn arg<'a>(e: &'a loom_sdk::EffectStep, name: &str) -> &'a ArgValue {
    let Effect::Agent(call) = &e.effect else {
        panic!("not an agent call: {e:?}")
    };
    &call
        .args
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no arg {name}"))
        .value
}

#[test]
fn happy_path_with_one_fix_round() {
    let mut run = Run::new();

    // plan: the planner is asked, then the plan gate shows the plan.
    let e = run
        .effect("plan", agent("1. add the flag\n2. test it"))
        .unwrap();
    assert_eq!(arg(&e, "task").as_text(), Some("add a --json flag"));
    assert_eq!(run.s.phase, "plan");
    let g = run.decide("plan", true, Decider::Rule, None).unwrap();
    assert!(g.summary.contains("1. add the flag"));
    assert!(!g.require_human);

    // implement: write, then apply the reply recorded under the implement ledger key.
    let e = run.effect("implement", agent(&diff_reply())).unwrap();
    assert_eq!(
        arg(&e, "plan").as_text(),
        Some("1. add the flag\n2. test it")
    );
    assert_eq!(
        run.fact("diff", "pending"),
        Some(json!({"text": DIFF, "step": "implement"}))
    );
    let e = run
        .effect("apply", diff_applied("h1", &["src/cli.rs"]))
        .unwrap();
    let Effect::ApplyDiff(call) = &e.effect else {
        panic!("{e:?}")
    };
    assert_eq!(call.source_key, "r1-3-implement");
    assert_eq!(
        run.fact("diff", "latest"),
        Some(json!({"hash": "h1", "text": DIFF, "round": 0}))
    );
    assert_eq!(run.fact("diff", "pending"), None);
    assert_eq!(
        run.fact("touched", "src/cli.rs"),
        Some(json!({"test": false}))
    );
    assert_eq!(run.s.phase, "review");

    // review with a blocking finding: to fix.
    let e = run
        .effect("review", agent(&blocking("flag is never parsed")))
        .unwrap();
    assert_eq!(arg(&e, "diff").as_text(), Some(DIFF));
    assert_eq!(
        run.fact("finding", "F1"),
        Some(
            json!({"severity": "blocking", "status": "open", "text": "flag is never parsed",
                    "path": "src/cli.rs", "source": "review"})
        )
    );
    assert_eq!(run.fact("review", "latest"), Some(json!({"diff": "h1"})));
    assert_eq!(run.s.phase, "fix");

    // fix: the prompt lists the open findings; apply-fix uses the fix ledger key.
    let e = run.effect("fix", agent(&diff_reply())).unwrap();
    assert_eq!(
        arg(&e, "findings"),
        &ArgValue::TextList(vec![
            "F1 [blocking] flag is never parsed (src/cli.rs)".into()
        ])
    );
    let e = run
        .effect(
            "apply-fix",
            diff_applied("h2", &["src/cli.rs", "src/args.rs"]),
        )
        .unwrap();
    let Effect::ApplyDiff(call) = &e.effect else {
        panic!("{e:?}")
    };
    assert_eq!(call.source_key, "r1-6-fix");
    assert_eq!(run.fact("rounds", "fix"), Some(json!({"n": 1})));
    assert_eq!(run.fact("diff", "latest").unwrap()["round"], json!(1));
    assert_eq!(run.s.phase, "review");

    // a clean review resolves F1 and goes to test.
    run.effect("review", agent(&format!("```json\n{CLEAN}\n```")))
        .unwrap();
    assert_eq!(
        run.fact("finding", "F1").unwrap()["status"],
        json!("resolved")
    );
    assert_eq!(run.fact("review", "latest"), Some(json!({"diff": "h2"})));
    assert_eq!(run.s.phase, "test");

    let e = run.effect("test", command(0, "ok")).unwrap();
    assert_eq!(
        e.effect,
        Effect::Command(loom_sdk::CommandCall {
            name: "test".into(),
            retry_safe: true
        })
    );
    assert_eq!(
        run.fact("test", "latest"),
        Some(json!({"exit": 0, "diff": "h2"}))
    );
    assert_eq!(run.s.phase, "accept");

    // accept: no test file touched, so the policy may pick the decider.
    let g = run.expect_gate("accept");
    assert!(!g.require_human);
    assert!(g.summary.contains("Diff: h2"), "{}", g.summary);
    assert!(g.summary.contains("Tests: passed"), "{}", g.summary);
    assert!(g.summary.contains("Open findings: none"), "{}", g.summary);
    run.decide("accept", true, Decider::Agent, None).unwrap();
    assert_eq!(run.s.phase, "done");
    let NextStep::Finish(summary) = run.next() else {
        panic!("{:?}", run.next())
    };
    assert!(
        summary.contains("Diff h2 after 1 fix round(s)"),
        "{summary}"
    );
}

#[test]
fn next_is_deterministic() {
    let mut run = Run::new();
    to_review(&mut run, &["src/cli.rs"]);
    assert_eq!(run.next(), run.next());
}

#[test]
fn rejected_plan_fails_the_run_with_the_note() {
    let mut run = Run::new();
    run.effect("plan", agent("do it")).unwrap();
    run.decide("plan", false, Decider::Human, Some("wrong approach"))
        .unwrap();
    assert_eq!(run.s.phase, "failed");
    let NextStep::Fail(reason) = run.next() else {
        panic!()
    };
    assert!(reason.contains("wrong approach"), "{reason}");
}

#[test]
fn empty_plan_fails() {
    let mut run = Run::new();
    run.effect("plan", agent("  \n")).unwrap();
    assert_eq!(run.s.phase, "failed");
}

#[test]
fn implementer_without_a_diff_fails_the_run() {
    let mut run = Run::new();
    run.effect("plan", agent("plan")).unwrap();
    run.decide("plan", true, Decider::Rule, None).unwrap();
    run.effect("implement", agent("I would rather not."))
        .unwrap();
    assert_eq!(run.s.phase, "failed");
    let NextStep::Fail(reason) = run.next() else {
        panic!()
    };
    assert!(reason.contains("no diff"), "{reason}");
}

#[test]
fn a_diff_that_does_not_apply_fails_the_run_with_the_error() {
    let mut run = Run::new();
    run.effect("plan", agent("plan")).unwrap();
    run.decide("plan", true, Decider::Rule, None).unwrap();
    run.effect("implement", agent(&diff_reply())).unwrap();
    run.effect("apply", diff_failed("patch does not apply: src/cli.rs:1"))
        .unwrap();
    let NextStep::Fail(reason) = run.next() else {
        panic!()
    };
    assert!(
        reason.contains("patch does not apply: src/cli.rs:1"),
        "{reason}"
    );
}

#[test]
fn an_unparsable_review_is_an_error_and_changes_nothing() {
    let mut run = Run::new();
    to_review(&mut run, &["src/cli.rs"]);
    let before = run.s.facts.clone();
    let Err(Refused::Apply(e)) = run.effect("review", agent("Looks good to me!")) else {
        panic!()
    };
    assert!(
        e.starts_with("reviewer reply is not the findings JSON"),
        "{e}"
    );
    assert_eq!(run.s.facts, before);
    assert_eq!(run.s.phase, "review");
}

#[test]
fn outcomes_out_of_place_are_errors() {
    let run = Run::new();
    assert!(crate::logic::apply(&run.s, "review", &agent(CLEAN)).is_err());
    assert!(crate::logic::apply(&run.s, "test", &command(0, "")).is_err());
    assert!(crate::logic::apply(&run.s, "deploy", &agent("x")).is_err());
}

#[test]
fn unknown_phase_fails() {
    let mut run = Run::new();
    run.s.phase = "deploy".into();
    assert!(matches!(run.next(), NextStep::Fail(r) if r.contains("deploy")));
}

#[test]
fn a_plan_approved_with_edits_is_the_plan_the_implementer_follows() {
    for (edited, plan) in [
        // The gate's whole text, the heading kept.
        (
            "Task: add a --json flag\n\nPlan:\n1. add the flag\n2. test it\n3. document it\n",
            "1. add the flag\n2. test it\n3. document it",
        ),
        // The heading dropped: all of it is the plan.
        ("only add the flag", "only add the flag"),
    ] {
        let mut run = Run::new();
        run.effect("plan", agent("1. add the flag\n2. test it"))
            .unwrap();
        run.decide_edited("plan", true, Decider::Human, None, Some(edited))
            .unwrap();
        assert_eq!(run.fact("plan", "text"), Some(json!({ "text": plan })));
        let e = run.effect("implement", agent(&diff_reply())).unwrap();
        assert_eq!(arg(&e, "plan").as_text(), Some(plan));
    }
    // An edit that leaves no plan is refused: the gate stays open for another decision.
    let mut run = Run::new();
    run.effect("plan", agent("1. add the flag")).unwrap();
    let edited = "Task: add a --json flag\n\nPlan:\n  \n";
    assert!(run
        .decide_edited("plan", true, Decider::Human, None, Some(edited))
        .is_err());
    assert_eq!(run.s.phase, "plan");
}
