//! Every recorded JSON shape, as each run format wrote it, read by today's readers.
//!
//! A run's format version is kept in its options (`format`, [`crate::RUN_FORMAT`] for a new
//! run; absent, so 1, in runs recorded before formats were numbered), and everything the run
//! recorded is in that format:
//!
//! | shape | where | format 1 | format 2 | format 3 | format 4 |
//! |---|---|---|---|---|---|
//! | run options | `runs.options` | `provider` only | + `format`, `budget` (the caps in force) | same | same |
//! | change list | `ticks.changes` | writes; `run-status` without `code` | + `run-status.code`, + `options` writes | same (a refused human decision is no longer recorded) | same (a resume may switch the provider through an `options` write) |
//! | stop | `run-status.code` | none: the reason text holds the advice | a typed code ([`crate::Stop`]) | same | same |
//! | outcome | `ledger.result` | `agent`, `diff`, `command`, `gate` | same | same | same |
//! | effect metadata | `ledger.meta` | role, provider, model, tokens, `cost_usd`, `cost_source`, latency, `attempts` | + `unapplied`, `refused_by`, `reused_from`; a diff's request + `preimage` | same | same |
//!
//! A field added in a later format is read with `serde(default)` (run options' `format` and
//! `budget`, a write's `code`) or through `serde_json::Value` (metadata), so an older record
//! reads as what it was; and a change list reads back to exactly its recorded bytes, which is
//! what keeps an old tick's hash reproducible. One test per format.

use crate::api::RunOptions;
use crate::budget::{charge, Caps};
use crate::run_effect::settled;
use crate::stops::Stop;
use loom_kernel::{LedgerRow, LedgerStatus, Write};
use loom_runtime::Outcome;

/// A change list as recorded: it parses, and writes back byte for byte.
fn round_trips(changes: &str) -> Vec<Write> {
    let writes: Vec<Write> =
        serde_json::from_str(changes).unwrap_or_else(|e| panic!("{e}: {changes}"));
    assert_eq!(serde_json::to_string(&writes).unwrap(), changes);
    writes
}

fn outcome(json: &str) -> Outcome {
    let o: Outcome = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(serde_json::to_string(&o).unwrap(), json);
    o
}

fn row(status: LedgerStatus, meta: &str) -> LedgerRow {
    LedgerRow {
        key: "r1/work#1".into(),
        attempt: 1,
        run_id: 1,
        seq: 2,
        step: "work".into(),
        kind: "agent".into(),
        retry_safe: true,
        status,
        request_hash: None,
        result_hash: None,
        summary: String::new(),
        meta: meta.into(),
        intent_ms: 0,
        result_ms: None,
    }
}

/// The outcomes every format recorded (the shapes have not changed).
const OUTCOMES: &[&str] = &[
    r#"{"agent":{"text":"1. fix the even case\n","touched":[],"diff_hash":null}}"#,
    r#"{"diff":{"applied":true,"diff_hash":"04eb","touched":["stats.py"],"error":null}}"#,
    r#"{"command":{"exit_code":0,"output_tail":"OK"}}"#,
    r#"{"gate":{"gate":"accept","approved":false,"decider":"human","by":"ann","note":"no"}}"#,
];

const META_V1: &str = r#"{"attempts":[{"latency_ms":5,"message":"ok","model":"m","outcome":"ok","provider":"p"}],"cost_source":"provider","cost_usd":0.03,"input_tokens":53,"latency_ms":5,"model":"m","output_tokens":5,"provider":"p","role":"planner"}"#;

#[test]
fn format_1_records_read_as_recorded() {
    let o = RunOptions::parse(r#"{"provider":null}"#, 1).unwrap();
    assert_eq!((o.format, o.budget.is_none()), (1, true));
    let writes = round_trips(concat!(
        r#"[{"op":"run-start","task":1,"title":"t","bundle":"code","version":"0.1.0","bundle_hash":"ab","phase":"plan","settings":"{}"},"#,
        r#"{"op":"result","key":"r1/plan#1","attempt":1,"status":"done","result_hash":"cd","summary":"planner replied"},"#,
        r#"{"op":"call","key":"r1/plan#1.1/call1","step":"plan","kind":"agent-call","status":"failed","summary":"overloaded"},"#,
        r#"{"op":"put-fact","kind":"plan","key":"text","value":"\"1.\""},"#,
        r#"{"op":"gate-open","id":3,"name":"plan","decider":"human","risk":"medium","shown_hash":"ef"},"#,
        r#"{"op":"gate-decide","id":3,"approved":true,"decider":"human","by":"ann","transport":"cli","note":null},"#,
        r#"{"op":"note","text":"n"},"#,
        r#"{"op":"refused","changes":[{"op":"phase","from":"plan","to":"done"}]},"#,
        r#"{"op":"violation","rule":"r","message":"m","rows":["gate:3"]},"#,
        r#"{"op":"run-status","status":"stopped","reason":"provider down; fix it and `loom resume`"}]"#
    ));
    // Before codes, a stop was its text alone.
    assert!(matches!(
        writes.last(),
        Some(Write::RunStatus { code: None, .. })
    ));
    assert_eq!(Stop::parse("provider down; fix it and `loom resume`"), None);
    for o in OUTCOMES {
        outcome(o);
    }
    let paid = row(LedgerStatus::Done, META_V1);
    assert!(
        charge(&paid).unwrap().is_some(),
        "a format 1 call counts against a budget"
    );
    assert!(settled(&paid));
}

#[test]
fn format_2_records_read_as_recorded() {
    let o = RunOptions::parse(
        r#"{"provider":null,"format":2,"budget":{"run":{"usd":0.05}}}"#,
        5,
    )
    .unwrap();
    assert_eq!(o.format, 2);
    let expected: Caps = serde_json::from_str(r#"{"run":{"usd":0.05}}"#).unwrap();
    assert_eq!(o.budget, Some(expected));
    let writes = round_trips(concat!(
        r#"[{"op":"options","from":"{\"provider\":null,\"format\":2,\"budget\":{\"run\":{\"usd\":0.05}}}","options":"{\"provider\":null,\"format\":2,\"budget\":{\"run\":{\"usd\":0.2}}}"},"#,
        r#"{"op":"run-status","status":"stopped","reason":"no provider","code":"{\"code\":\"effect-failed\",\"message\":\"no provider\"}"}]"#
    ));
    let Some(Write::RunStatus {
        code: Some(code), ..
    }) = writes.last()
    else {
        panic!("a format 2 stop has a code");
    };
    assert_eq!(
        Stop::parse(code),
        Some(Stop::EffectFailed {
            message: "no provider".into()
        })
    );
    for o in OUTCOMES {
        outcome(o);
    }
    // A result refused for its cost only is held for the next attempt, which re-uses it and
    // is not charged again; one held after a fault likewise.
    let by_budget = META_V1.replace("\"role\"", "\"refused_by\":[\"budget\"],\"role\"");
    let refused = row(LedgerStatus::Refused, &by_budget);
    assert!(!settled(&refused) && charge(&refused).unwrap().is_some());
    let fault = META_V1.replace("\"role\"", "\"unapplied\":\"bundle-fault\",\"role\"");
    assert!(!settled(&row(LedgerStatus::Refused, &fault)));
    let reused = META_V1.replace("\"role\"", "\"reused_from\":1,\"role\"");
    assert!(charge(&row(LedgerStatus::Done, &reused)).unwrap().is_none());
}

#[test]
fn format_3_records_read_as_recorded() {
    let written = RunOptions {
        provider: Some("scripted:r.toml".into()),
        format: 3,
        budget: Some(Caps::default()),
    }
    .to_json()
    .unwrap();
    let read = RunOptions::parse(&written, 1).unwrap();
    assert_eq!(
        (read.format, read.provider.as_deref()),
        (3, Some("scripted:r.toml"))
    );
    // Format 3 writes the shapes of format 2.
    round_trips(
        r#"[{"op":"gate-decide","id":7,"approved":false,"decider":"human","by":"ann","transport":"http","note":"because"},{"op":"phase","from":"work","to":"done"}]"#,
    );
    for o in OUTCOMES {
        outcome(o);
    }
    // Damaged metadata is refused, never counted as free.
    assert!(charge(&row(LedgerStatus::Done, "{not json")).is_err());
}

#[test]
fn format_4_records_are_what_todays_loom_writes_and_reads() {
    assert_eq!(crate::RUN_FORMAT, 4, "a new format adds a test here");
    // Format 4 keeps format 3's shapes; it changed wording (advice, refusal texts with dollars
    // given to as many digits as tell spend and cap apart), and a resume may switch the run's
    // provider through an `options` write, a shape format 2 introduced.
    let from = RunOptions {
        provider: Some("scripted:a.toml".into()),
        format: crate::RUN_FORMAT,
        budget: Some(Caps::default()),
    };
    let to = RunOptions {
        provider: Some("scripted:b.toml".into()),
        ..from.clone()
    };
    let (from, to) = (from.to_json().unwrap(), to.to_json().unwrap());
    let read = RunOptions::parse(&to, 1).unwrap();
    assert_eq!(
        (read.format, read.provider.as_deref()),
        (4, Some("scripted:b.toml"))
    );
    let changes = serde_json::to_string(&[Write::Options {
        from,
        options: to.clone(),
    }])
    .unwrap();
    let writes = round_trips(&changes);
    assert!(matches!(&writes[0], Write::Options { options, .. } if *options == to));
    for o in OUTCOMES {
        outcome(o);
    }
    assert!(charge(&row(LedgerStatus::Done, "{not json")).is_err());
}
