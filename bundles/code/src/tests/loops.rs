//! The loops: failing tests, rejected acceptance, review/fix rounds, and who decides.

use loom_sdk::{Decider, NextStep};
use serde_json::json;

use super::harness::*;
use crate::Settings;

#[test]
fn failing_tests_add_a_finding_and_loop_through_fix() {
    let mut run = Run::new();
    to_review(&mut run, &["src/cli.rs"]);
    run.effect("review", agent(CLEAN)).unwrap();
    let output = (1..=100)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    run.effect("test", command(101, &output)).unwrap();
    let f = run.fact("finding", "F1").unwrap();
    assert_eq!(f["source"], json!("test"));
    assert_eq!(f["severity"], json!("blocking"));
    let text = f["text"].as_str().unwrap();
    assert!(
        text.contains("exit code 101") && text.contains("line 100") && !text.contains("line 70\n")
    );
    assert_eq!(run.s.phase, "fix");

    run.effect("fix", agent(&diff_reply())).unwrap();
    run.effect("apply-fix", diff_applied("h2", &["src/cli.rs"]))
        .unwrap();
    // a clean review does not resolve a test finding: the next test run does.
    run.effect("review", agent(CLEAN)).unwrap();
    assert_eq!(run.fact("finding", "F1").unwrap()["status"], json!("open"));
    assert_eq!(run.s.phase, "test");
    run.effect("test", command(0, "")).unwrap();
    assert_eq!(
        run.fact("finding", "F1").unwrap()["status"],
        json!("resolved")
    );
    assert_eq!(run.s.phase, "accept");
    run.decide("accept", true, Decider::Human, None).unwrap();
    assert_eq!(run.s.phase, "done");
}

#[test]
fn no_rounds_left_goes_to_test_then_accept_where_rules_refuse() {
    let mut run = Run::with(Settings {
        max_fix_rounds: 0,
        ..Settings::default()
    });
    to_review(&mut run, &["src/cli.rs"]);
    run.effect("review", agent(&blocking("still broken")))
        .unwrap();
    assert_eq!(run.s.phase, "test");
    run.effect("test", command(1, "boom")).unwrap();
    assert_eq!(run.s.phase, "accept");
    let g = run.expect_gate("accept");
    assert!(
        g.summary.contains("F1 [blocking] still broken"),
        "{}",
        g.summary
    );
    assert!(g.summary.contains("Tests: FAILED"), "{}", g.summary);
    let refused = run
        .decide("accept", true, Decider::Human, None)
        .unwrap_err();
    assert_eq!(refused.rules(), vec!["no-blocking-at-accept"]);
    assert_eq!(run.s.phase, "accept", "a refused tick commits nothing");
    // rejecting with no rounds left fails the run.
    run.decide("accept", false, Decider::Human, Some("give up"))
        .unwrap();
    assert_eq!(run.s.phase, "failed");
    let NextStep::Fail(reason) = run.next() else {
        panic!()
    };
    assert!(
        reason.contains("give up") && reason.contains("no fix rounds left"),
        "{reason}"
    );
}

#[test]
fn rejected_accept_goes_back_to_fix_and_the_human_decides_again() {
    let mut run = Run::new();
    to_review(&mut run, &["src/cli.rs"]);
    run.effect("review", agent(CLEAN)).unwrap();
    run.effect("test", command(0, "")).unwrap();
    run.decide(
        "accept",
        false,
        Decider::Human,
        Some("use serde, not format!"),
    )
    .unwrap();
    let f = run.fact("finding", "F1").unwrap();
    assert_eq!(f["source"], json!("human"));
    assert!(f["text"]
        .as_str()
        .unwrap()
        .contains("use serde, not format!"));
    assert_eq!(run.s.phase, "fix");

    run.effect("fix", agent(&diff_reply())).unwrap();
    run.effect("apply-fix", diff_applied("h2", &["src/cli.rs"]))
        .unwrap();
    run.effect("review", agent(CLEAN)).unwrap();
    run.effect("test", command(0, "")).unwrap();
    // the human's objection is open, so a human must decide.
    assert!(run.expect_gate("accept").require_human);
    run.decide("accept", true, Decider::Human, None).unwrap();
    assert_eq!(
        run.fact("finding", "F1").unwrap()["status"],
        json!("resolved")
    );
    assert_eq!(run.s.phase, "done");
}

#[test]
fn rounds_are_bounded_whatever_the_reviewer_says() {
    let mut run = Run::with(Settings {
        max_fix_rounds: 2,
        ..Settings::default()
    });
    to_review(&mut run, &["src/cli.rs"]);
    let mut reviews = 0;
    while run.s.phase == "review" || run.s.phase == "fix" {
        if run.s.phase == "review" {
            reviews += 1;
            run.effect("review", agent(&blocking(&format!("problem {reviews}"))))
                .unwrap();
        } else {
            run.effect("fix", agent(&diff_reply())).unwrap();
            run.effect("apply-fix", diff_applied(&format!("h{}", reviews + 1), &[]))
                .unwrap();
        }
        assert!(reviews <= 3, "the review/fix loop must stop");
    }
    assert_eq!(reviews, 3);
    assert_eq!(run.s.phase, "test");
    assert_eq!(run.fact("rounds", "fix"), Some(json!({"n": 2})));
    // findings got fresh, increasing ids and earlier ones were resolved.
    assert_eq!(
        run.fact("finding", "F1").unwrap()["status"],
        json!("resolved")
    );
    assert_eq!(
        run.fact("finding", "F2").unwrap()["status"],
        json!("resolved")
    );
    assert_eq!(run.fact("finding", "F3").unwrap()["status"], json!("open"));
}

#[test]
fn touched_test_files_make_the_accept_gate_human() {
    let mut run = Run::new();
    to_review(&mut run, &["src/cli.rs", "tests/cli.rs"]);
    assert_eq!(
        run.fact("touched", "tests/cli.rs"),
        Some(json!({"test": true}))
    );
    run.effect("review", agent(CLEAN)).unwrap();
    run.effect("test", command(0, "")).unwrap();
    let g = run.expect_gate("accept");
    assert!(g.require_human);
    assert!(
        g.summary
            .contains("Test files touched, so a human decides: tests/cli.rs"),
        "{}",
        g.summary
    );
}

#[test]
fn custom_test_globs_are_used() {
    let settings = Settings {
        test_globs: vec!["spec/**".into()],
        ..Settings::default()
    };
    let mut run = Run::with(settings);
    to_review(&mut run, &["spec/a.rb", "tests/b.rs"]);
    assert_eq!(
        run.fact("touched", "spec/a.rb"),
        Some(json!({"test": true}))
    );
    assert_eq!(
        run.fact("touched", "tests/b.rs"),
        Some(json!({"test": false}))
    );
}
