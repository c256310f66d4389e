//! The limits on values handed back, on plain values (the hostile guests test them through
//! wasm in `tests/runner/test_hostile.rs`).

use super::*;
use crate::types::{Arg, ArgValue, GateStep, Manifest};
use loom_kernel::{NewRun, Store, TickKind, TickMeta};

fn store_with_facts(n: usize) -> (Store, u64) {
    let store = Store::open_in_memory().unwrap();
    let new = NewRun {
        title: "limits".into(),
        bundle_name: "b".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "h".into(),
        phase: "work".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let mut tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    for i in 0..n {
        tick.put_fact("k", &format!("{i}"), "1").unwrap();
    }
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    (store, run)
}

fn put(key: &str) -> Change {
    Change::PutFact {
        kind: "k".into(),
        key: key.into(),
        value: "1".into(),
    }
}

#[test]
fn texts_of_next_are_bounded_each_by_its_own_limit() {
    let big = "x".repeat(FINISH_TEXT_BYTES_MAX + 1);
    let e = next_step(&NextStep::Finish(big.clone())).unwrap_err();
    assert_eq!(
        (e.limit, e.max, e.found, e.what.as_str()),
        ("FINISH_TEXT_BYTES_MAX", 65_536, 65_537, "its finish text")
    );
    assert!(next_step(&NextStep::Fail(big)).is_err());
    assert!(next_step(&NextStep::Finish("x".repeat(FINISH_TEXT_BYTES_MAX))).is_ok());

    let gate = |name: &str, summary: String| {
        NextStep::Gate(GateStep {
            gate: name.into(),
            summary,
            require_human: false,
        })
    };
    let e = next_step(&gate("g", "s".repeat(SUMMARY_BYTES_MAX + 1))).unwrap_err();
    assert_eq!(
        (e.limit, e.what.as_str()),
        ("SUMMARY_BYTES_MAX", "the summary of gate g")
    );
    let e = next_step(&gate(&"g".repeat(NAME_BYTES_MAX + 1), "s".into())).unwrap_err();
    assert_eq!(e.limit, "NAME_BYTES_MAX");
}

#[test]
fn an_agent_calls_arguments_count_toward_the_call_total() {
    let arg = |i: usize| Arg {
        name: format!("a{i}"),
        value: ArgValue::TextList(vec!["y".repeat(1 << 20)]),
    };
    let call = |n: usize| {
        NextStep::Effect(crate::types::EffectStep {
            step: "s".into(),
            effect: Effect::Agent(crate::types::AgentCall {
                role: "r".into(),
                template: "t".into(),
                args: (0..n).map(arg).collect(),
                edits_tree: false,
            }),
        })
    };
    assert!(next_step(&call(3)).is_ok());
    let e = next_step(&call(4)).unwrap_err();
    assert_eq!(e.limit, "CALL_RESULT_BYTES_MAX");
}

#[test]
fn changes_are_bounded_in_number_size_and_kind() {
    let (store, run) = store_with_facts(0);
    let view = store.view(run);
    let notes = vec![Change::Note("n".into()); CHANGES_PER_TICK_MAX + 1];
    let e = changes(&notes, &view).unwrap().unwrap_err();
    assert_eq!(
        (e.limit, e.found, e.unit),
        ("CHANGES_PER_TICK_MAX", 1_001, "changes")
    );

    let big_note = [put("a"), Change::Note("n".repeat(NOTE_BYTES_MAX + 1))];
    let e = changes(&big_note, &view).unwrap().unwrap_err();
    assert_eq!(
        (e.limit, e.what.as_str()),
        ("NOTE_BYTES_MAX", "change 2 of 2 (a note)")
    );

    let big_value = [Change::PutFact {
        kind: "diff".into(),
        key: "latest".into(),
        value: "v".repeat(FACT_VALUE_BYTES_MAX + 1),
    }];
    let e = changes(&big_value, &view).unwrap().unwrap_err();
    assert_eq!(
        (e.limit, e.what.as_str()),
        ("FACT_VALUE_BYTES_MAX", "change 1 of 1 (fact diff/latest)")
    );

    let long_key = [put(&"p/".repeat(KEY_BYTES_MAX))];
    let e = changes(&long_key, &view).unwrap().unwrap_err();
    assert_eq!(e.limit, "KEY_BYTES_MAX");

    // Many notes, each within its own limit, still may not add up to more than a call's total.
    let many = vec![Change::Note("n".repeat(NOTE_BYTES_MAX)); 65];
    let e = changes(&many, &view).unwrap().unwrap_err();
    assert_eq!(e.limit, "CALL_RESULT_BYTES_MAX");
}

#[test]
fn the_facts_a_run_would_hold_are_counted_exactly_near_the_limit() {
    let held = FACTS_PER_RUN_MAX as usize - 2;
    let (store, run) = store_with_facts(held);
    let view = store.view(run);
    // Rewriting held facts adds none, however many writes there are.
    let rewrites: Vec<Change> = (0..10).map(|i| put(&format!("{i}"))).collect();
    assert!(changes(&rewrites, &view).unwrap().is_ok());
    // Two new facts fit, a third does not; dropping one makes room for it.
    let two = [put("new1"), put("new2"), put("new1")];
    assert!(changes(&two, &view).unwrap().is_ok());
    let three = [put("new1"), put("new2"), put("new3")];
    let e = changes(&three, &view).unwrap().unwrap_err();
    assert_eq!(
        (e.limit, e.max, e.found, e.unit),
        ("FACTS_PER_RUN_MAX", 10_000, 10_001, "facts")
    );
    let dropped = [
        Change::DropFact {
            kind: "k".into(),
            key: "0".into(),
        },
        put("new1"),
        put("new2"),
        put("new3"),
    ];
    assert!(changes(&dropped, &view).unwrap().is_ok());
}

#[test]
fn violations_are_bounded() {
    let v = |rows: usize, message: usize| Violation {
        rule: "r".into(),
        message: "m".repeat(message),
        rows: vec!["fact:k/1".into(); rows],
    };
    assert!(violations(&[v(1, 10)]).is_ok());
    let e = violations(&vec![v(1, 1); VIOLATIONS_PER_CHECK_MAX + 1]).unwrap_err();
    assert_eq!(e.limit, "VIOLATIONS_PER_CHECK_MAX");
    let e = violations(&[v(ROWS_PER_VIOLATION_MAX + 1, 1)]).unwrap_err();
    assert_eq!(e.limit, "ROWS_PER_VIOLATION_MAX");
    let e = violations(&[v(1, SUMMARY_BYTES_MAX + 1)]).unwrap_err();
    assert_eq!(
        (e.limit, e.what.as_str()),
        ("SUMMARY_BYTES_MAX", "violation 1 (its message)")
    );
}

#[test]
fn a_manifest_is_measured_as_json() {
    let mut m = Manifest {
        name: "b".into(),
        version: "0.1.0".into(),
        phases: vec!["p".into()],
        steps: vec![],
        gates: vec![],
        rules: vec![],
        templates: vec![],
        needs: None,
    };
    assert!(manifest(&m).is_ok());
    m.phases = vec!["p".repeat(1_000); MANIFEST_BYTES_MAX / 1_000];
    let e = manifest(&m).unwrap_err();
    assert_eq!(e.limit, "MANIFEST_BYTES_MAX");
    assert!(e.found > MANIFEST_BYTES_MAX as u64, "{e:?}");
}
