//! Each rule firing and not firing, on states reached through the logic or built by hand.

use loom_sdk::{Decider, Gate, GateStatus};
use serde_json::json;

use super::harness::*;
use crate::manifest::{
    HUMAN_DECIDES_TOUCHED_TESTS, NO_BLOCKING_AT_ACCEPT, REVIEW_COVERS_LATEST_DIFF,
};
use crate::rules::check;

/// A run at the accept gate after a clean review and passing tests.
fn at_accept(touched: &[&str]) -> Run {
    let mut run = Run::new();
    to_review(&mut run, touched);
    run.effect("review", agent(CLEAN)).unwrap();
    run.effect("test", command(0, "")).unwrap();
    assert_eq!(run.s.phase, "accept");
    run
}

fn put(run: &mut Run, kind: &str, key: &str, value: serde_json::Value) {
    run.s
        .facts
        .insert((kind.into(), key.into()), value.to_string());
}

fn approve(run: &mut Run, decider: Decider) {
    run.s.gates.push(Gate {
        id: 42,
        name: "accept".into(),
        status: GateStatus::Approved,
        decider,
        opened_tick: 42,
        decided_by: Some(format!("{}:someone", decider.as_str())),
        note: None,
    });
}

#[test]
fn nothing_fires_on_a_clean_run_or_before_accept() {
    let mut run = at_accept(&["src/cli.rs"]);
    assert_eq!(check(&run.s), vec![]);
    run.decide("accept", true, Decider::Rule, None).unwrap();
    assert_eq!(check(&run.s), vec![]);
}

#[test]
fn open_findings_alone_break_nothing() {
    let mut run = Run::new();
    to_review(&mut run, &["tests/a.rs"]);
    run.effect("review", agent(&blocking("bad"))).unwrap();
    assert_eq!(check(&run.s), vec![]);
}

#[test]
fn no_blocking_at_accept_fires_naming_the_gate_and_findings() {
    let mut run = at_accept(&["src/cli.rs"]);
    let finding = json!({"severity":"blocking","status":"open","text":"x","source":"review"});
    put(&mut run, "finding", "F7", finding);
    put(
        &mut run,
        "finding",
        "F8",
        json!({"severity":"minor","status":"open","text":"y","source":"review"}),
    );
    approve(&mut run, Decider::Human);
    let v = check(&run.s);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule, NO_BLOCKING_AT_ACCEPT);
    assert!(
        v[0].message.contains("F7") && !v[0].message.contains("F8"),
        "{}",
        v[0].message
    );
    assert_eq!(v[0].rows, vec!["gate:42", "fact:finding/F7"]);
}

#[test]
fn no_blocking_at_accept_ignores_resolved_and_rejected() {
    let mut run = at_accept(&["src/cli.rs"]);
    put(
        &mut run,
        "finding",
        "F7",
        json!({"severity":"blocking","status":"resolved","text":"x","source":"review"}),
    );
    approve(&mut run, Decider::Human);
    assert_eq!(check(&run.s), vec![]);

    let mut run = at_accept(&["src/cli.rs"]);
    put(
        &mut run,
        "finding",
        "F7",
        json!({"severity":"blocking","status":"open","text":"x","source":"review"}),
    );
    run.decide("accept", false, Decider::Human, None).unwrap();
    assert_eq!(check(&run.s), vec![]);
}

#[test]
fn human_decides_touched_tests_fires_for_agent_and_rule() {
    for decider in [Decider::Agent, Decider::Rule] {
        let mut run = at_accept(&["src/cli.rs", "tests/cli.rs"]);
        let refused = run.decide("accept", true, decider, None).unwrap_err();
        assert_eq!(refused.rules(), vec![HUMAN_DECIDES_TOUCHED_TESTS]);
        let Refused::Rules(v) = refused else {
            unreachable!()
        };
        assert!(v[0].message.contains("tests/cli.rs"), "{}", v[0].message);
        assert!(v[0].rows.contains(&"fact:touched/tests/cli.rs".to_owned()));
        assert_eq!(run.s.phase, "accept");
    }
}

#[test]
fn human_decides_touched_tests_allows_a_human_and_untouched_tests() {
    let mut run = at_accept(&["tests/cli.rs"]);
    run.decide("accept", true, Decider::Human, None).unwrap();
    assert_eq!(run.s.phase, "done");

    let mut run = at_accept(&["src/cli.rs"]);
    run.decide("accept", true, Decider::Agent, None).unwrap();
    assert_eq!(run.s.phase, "done");
}

#[test]
fn review_covers_latest_diff_fires_on_a_stale_or_missing_review() {
    let mut run = at_accept(&["src/cli.rs"]);
    put(&mut run, "review", "latest", json!({"diff": "h0"}));
    approve(&mut run, Decider::Human);
    let v = check(&run.s);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule, REVIEW_COVERS_LATEST_DIFF);
    assert!(
        v[0].message.contains("h0") && v[0].message.contains("h1"),
        "{}",
        v[0].message
    );
    assert_eq!(
        v[0].rows,
        vec!["gate:42", "fact:diff/latest", "fact:review/latest"]
    );

    let mut run = at_accept(&["src/cli.rs"]);
    run.s
        .facts
        .remove(&("review".to_owned(), "latest".to_owned()));
    approve(&mut run, Decider::Human);
    let v = check(&run.s);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("never reviewed"), "{}", v[0].message);
}

#[test]
fn review_covers_latest_diff_holds_when_hashes_match() {
    let mut run = at_accept(&["src/cli.rs"]);
    approve(&mut run, Decider::Human);
    assert_eq!(run.fact("review", "latest"), Some(json!({"diff": "h1"})));
    assert_eq!(check(&run.s), vec![]);
}

#[test]
fn no_rule_fires_before_accept_is_approved() {
    // A state that breaks every rule's premise except the approval itself.
    let mut run = at_accept(&["tests/test_x.py"]);
    let finding = json!({"severity":"blocking","status":"open","text":"x","source":"review"});
    put(&mut run, "finding", "F1", finding);
    run.s
        .facts
        .remove(&("review".to_owned(), "latest".to_owned()));
    assert!(!crate::rules::may_fire(run.s.latest_gate("accept")));
    assert!(check(&run.s).is_empty());
    approve(&mut run, Decider::Agent);
    assert!(crate::rules::may_fire(run.s.latest_gate("accept")));
    assert_eq!(check(&run.s).len(), 3);
}
