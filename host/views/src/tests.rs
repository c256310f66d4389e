#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The vocabulary's shapes, as snapshots: a field renamed, retyped, added or dropped changes
//! a `.snap` file under `src/snapshots/` and fails here until the snapshot is reviewed.

use super::*;
use loom_kernel as k;

fn tick(kind: k::TickKind) -> k::TickRow {
    k::TickRow {
        run_id: 1,
        seq: 3,
        unix_ms: 1_700_000_000_000,
        kind,
        step: Some("plan".into()),
        decider: Some("human:ann".into()),
        summary: "gate plan opened".into(),
        changes: r#"[{"op":"gate-open","name":"plan"}]"#.into(),
        prev_hash: "a".repeat(64),
        hash: "b".repeat(64),
    }
}

fn ledger() -> k::LedgerRow {
    k::LedgerRow {
        key: "plan#1".into(),
        attempt: 1,
        run_id: 1,
        seq: 2,
        step: "plan".into(),
        kind: "agent".into(),
        retry_safe: true,
        status: k::LedgerStatus::Done,
        request_hash: Some("c".repeat(64)),
        result_hash: Some("d".repeat(64)),
        summary: "planner replied".into(),
        meta: r#"{"tokens":{"in":10,"out":5},"attempts":[{"provider":"scripted","outcome":"ok"}]}"#
            .into(),
        intent_ms: 1_700_000_000_000,
        result_ms: Some(1_700_000_000_100),
    }
}

fn run() -> k::Run {
    k::Run {
        id: 1,
        task_id: 1,
        bundle_name: "code".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "e".repeat(64),
        status: k::RunStatus::Waiting,
        phase: "review".into(),
        settings: r#"{"max_rounds":3}"#.into(),
        stop_reason: None,
        created_ms: 1_700_000_000_000,
        last_seq: 3,
        options: r#"{"format":2}"#.into(),
    }
}

#[test]
fn a_log_entry_has_json_fields_as_json_and_kebab_case_kinds() {
    let entry = loom_engine::LogEntry {
        tick: tick(k::TickKind::GateOpen),
        ledger: vec![ledger()],
    };
    let v = serde_json::to_value(LogEntry::from(&entry)).unwrap();
    // What a jq user relies on, said outright as well as in the snapshot.
    assert_eq!(v["tick"]["kind"], "gate-open");
    assert_eq!(v["tick"]["changes"][0]["op"], "gate-open");
    assert_eq!(v["ledger"][0]["meta"]["attempts"][0]["outcome"], "ok");
    insta::assert_json_snapshot!("log_entry", v);
}

#[test]
fn a_status_has_its_run_gates_facts_and_typed_stop() {
    let s = loom_engine::Status {
        task: Some(k::Task {
            id: 1,
            title: "Fix median()".into(),
            status: k::TaskStatus::Open,
            created_ms: 1_700_000_000_000,
        }),
        run: Some(run()),
        pending_gates: vec![k::Gate {
            id: 3,
            run_id: 1,
            name: "accept".into(),
            status: k::GateStatus::Pending,
            decider: k::Decider::Human,
            risk: k::Risk::High,
            summary: "apply the patch?".into(),
            shown_hash: "f".repeat(64),
            opened_tick: 3,
            decided_tick: None,
            decided_by: None,
            transport: None,
            note: None,
        }],
        driver: Some(loom_engine::Holder {
            pid: 42,
            command: "loom serve".into(),
            transport: "http".into(),
            since_ms: 1_700_000_000_000,
        }),
        in_flight: vec![ledger()],
        uncertain: vec![],
        violations: vec![k::ViolationRow {
            run_id: 1,
            seq: 2,
            unix_ms: 1_700_000_000_000,
            step: Some("work".into()),
            rule: "tests-pass".into(),
            message: "the tests fail".into(),
            rows: vec!["fact:finding/1".into()],
        }],
        facts: vec![k::Fact {
            kind: "finding".into(),
            key: "1".into(),
            value: r#"{"severity":"high","status":"open"}"#.into(),
            tick: 2,
        }],
        stop: Some(loom_engine::Stop::MaxTicks { taken: 200 }),
    };
    let v = serde_json::to_value(Status::from(&s)).unwrap();
    assert_eq!(v["run"]["settings"]["max_rounds"], 3);
    assert_eq!(v["facts"][0]["value"]["severity"], "high");
    assert_eq!(v["stop"]["code"], "max-ticks");
    insta::assert_json_snapshot!("status", v);
}

#[test]
fn a_replay_report_carries_no_wall_clock_time() {
    let r = loom_engine::replay::RunReplay {
        run: 1,
        task: 1,
        title: "Fix median()".into(),
        recorded_ticks: 2,
        replayed_ticks: 2,
        identical: false,
        divergence: Some(loom_engine::replay::Divergence {
            seq: 1,
            step: None,
            what: "change 1 (run-start), field phase".into(),
            recorded: r#"{"phase":"plan"}"#.into(),
            replayed: r#"{"phase":"work"}"#.into(),
        }),
        firings: vec![],
        faults: vec![],
        millis: 1234,
        ticks: vec![loom_engine::replay::TickVerdict {
            seq: 1,
            unix_ms: 1_700_000_000_000,
            kind: "gate-open".into(),
            step: None,
            decider: None,
            summary: "started".into(),
            ledger: vec![],
            reproduced: Some(false),
            fired: vec![],
        }],
    };
    let v = serde_json::to_value(RunReplay::from(&r)).unwrap();
    assert!(v.get("millis").is_none(), "{v}");
    assert_eq!(v["ticks"][0]["kind"], "gate-open");
    insta::assert_json_snapshot!("replay", v);
}

#[test]
fn every_kind_is_spelt_as_the_kernel_names_it() {
    // `loom replay --ticks` prints `as_str`; `--json` and HTTP must say the same.
    for kind in k::TickKind::ALL {
        let v = serde_json::to_value(TickKind::from(*kind)).unwrap();
        assert_eq!(v, kind.as_str());
    }
    for s in k::RunStatus::ALL {
        assert_eq!(
            serde_json::to_value(RunStatus::from(*s)).unwrap(),
            s.as_str()
        );
    }
    for s in k::LedgerStatus::ALL {
        assert_eq!(
            serde_json::to_value(LedgerStatus::from(*s)).unwrap(),
            s.as_str()
        );
    }
}

#[test]
fn text_that_is_not_json_is_kept_as_a_string() {
    assert_eq!(json_text("{\"a\":1}")["a"], 1);
    assert_eq!(json_text("not json {"), "not json {");
    assert_eq!(changes_value("[]"), serde_json::json!([]));
}
