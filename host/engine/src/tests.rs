//! The engine driving the small testkit bundle end to end, in process.

use crate::{DriveReport, Engine, Silent};
use loom_kernel::{verify_chain, GateStatus, LedgerStatus, RunStatus, TickKind};

fn project(replies: &str, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::project::init(dir.path()).unwrap();
    std::fs::write(dir.path().join("loom.toml"), config).unwrap();
    std::fs::write(dir.path().join("replies.toml"), replies).unwrap();
    dir
}

const REPLIES: &str = "[[reply]]\nrole = \"worker\"\ntext = \"all done\"\n";
const CONFIG: &str = "default_chain = [\"scripted:replies.toml\"]\n";

#[test]
fn a_run_goes_to_its_human_gate_and_a_decision_finishes_it() {
    let dir = project(REPLIES, CONFIG);
    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    let r = e.start("do the work", loom_guests::TESTKIT, None).unwrap();
    assert_eq!(r.run.status, RunStatus::Waiting, "{:?}", r.run.stop_reason);
    assert_eq!(r.waiting_on[0].name, "finish");

    let ledger = e.store().ledger(r.run.id).unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].status, ledger[0].key.as_str()),
        (LedgerStatus::Done, "r1/work#1")
    );
    let request = e
        .store()
        .blob(ledger[0].request_hash.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&request).contains("do the work"),
        "the rendered prompt is stored"
    );

    let err = e.resume().err().unwrap();
    assert!(err.to_string().contains("waiting for a human"), "{err}");
    let r = e.decide("finish", true, None, "ann").unwrap();
    assert_eq!(r.run.status, RunStatus::Done);
    assert!(e.store().open_task().unwrap().is_none());
    let ticks = e.store().ticks(r.run.id).unwrap();
    verify_chain(&ticks).unwrap();
    let kinds: Vec<TickKind> = ticks.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [
            TickKind::Start,
            TickKind::Effect,
            TickKind::GateOpen,
            TickKind::Decision,
            TickKind::Finish
        ]
    );
    assert_eq!(
        e.store().gates(r.run.id).unwrap()[0].status,
        GateStatus::Approved
    );
}

#[test]
fn a_forbidden_reply_is_refused_at_commit_and_recorded() {
    let dir = project(
        "[[reply]]\nrole = \"worker\"\ntext = \"FORBIDDEN things\"\n",
        CONFIG,
    );
    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    let r = e.start("do the work", loom_guests::TESTKIT, None).unwrap();
    assert_eq!(r.run.status, RunStatus::Stopped);
    assert_eq!(r.violations[0].rule, "no-forbidden");
    // The reply was paid for: it is in the ledger, marked refused, and not in the state.
    let l = &e.store().ledger(r.run.id).unwrap()[0];
    assert_eq!(l.status, LedgerStatus::Refused);
    assert!(e.store().facts(r.run.id).unwrap().is_empty());
}

/// A run whose task opened with a provider, driven after the config lost it (edited between
/// `loom run` and `loom resume`, say): it stops at its first agent step.
fn stopped_without_provider(dir: &std::path::Path) -> (Engine, DriveReport) {
    std::fs::write(dir.join("loom.toml"), CONFIG).unwrap();
    let mut e = Engine::open(dir, Box::new(Silent), "test").unwrap();
    let run = e
        .begin_task("do the work", loom_guests::TESTKIT, None)
        .unwrap();
    drop(e);
    std::fs::write(dir.join("loom.toml"), "default_chain = []\n").unwrap();
    let mut e = Engine::open(dir, Box::new(Silent), "test").unwrap();
    let r = e.drive_run(run).unwrap();
    (e, r)
}

#[test]
fn a_role_without_a_provider_is_refused_before_the_task_opens() {
    let dir = project(REPLIES, "default_chain = []\n");
    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    let err = e
        .start("do the work", loom_guests::TESTKIT, None)
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Config);
    assert!(err.to_string().contains("agent role worker"), "{err}");
    assert!(
        e.store().open_task().unwrap().is_none(),
        "no task was opened"
    );
}

#[test]
fn a_missing_provider_stops_with_a_fix_it_message_and_resume_goes_on() {
    let dir = project(REPLIES, CONFIG);
    let (e, r) = stopped_without_provider(dir.path());
    assert_eq!(r.run.status, RunStatus::Stopped);
    let why = r.run.stop_reason.unwrap();
    assert!(
        why.contains("no provider is configured") && why.contains("default_chain"),
        "{why}"
    );
    // The record holds the fact and a typed code; the advice is the transport's to render.
    assert!(!why.contains("loom resume"), "{why}");
    assert!(
        matches!(&r.stop, Some(crate::Stop::EffectFailed { message }) if *message == why),
        "{:?}",
        r.stop
    );
    // Fix the config, reopen, resume: the same effect key gets a second attempt.
    std::fs::write(dir.path().join("loom.toml"), CONFIG).unwrap();
    drop(e); // one driver per project: the first engine lets go of the lock
    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    let r = e.resume().unwrap();
    assert_eq!(r.run.status, RunStatus::Waiting);
    let attempts = e.store().attempts(1, "r1/work#1").unwrap();
    let s: Vec<LedgerStatus> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(s, [LedgerStatus::Failed, LedgerStatus::Done]);
}

#[test]
fn a_hostile_bundle_stops_the_run_and_the_engine_survives() {
    let dir = project(REPLIES, CONFIG);
    for title in [
        "hostile:loop",
        "hostile:trap",
        "hostile:memory",
        "hostile:wasi",
    ] {
        let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
        match e.start(title, loom_guests::TESTKIT, None) {
            Ok(r) => {
                assert_eq!(r.run.status, RunStatus::Stopped, "{title}");
                let last = e.store().ticks(r.run.id).unwrap().pop().unwrap();
                assert_eq!(last.kind, TickKind::Fault, "{title}");
                e.abandon(None).unwrap();
            }
            // The start tick itself may be refused: nothing was created.
            Err(err) => assert!(!err.to_string().is_empty(), "{title}"),
        }
    }
    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    let r = e.start("do the work", loom_guests::TESTKIT, None).unwrap();
    assert_eq!(r.run.status, RunStatus::Waiting);
}

/// The state a crash leaves when it lands between a non-retry-safe effect's intent and its
/// result (an agent editing the tree, say): the next resume must not redo it blindly.
fn crashed_mid_effect(dir: &std::path::Path) -> Engine {
    let (e, r) = stopped_without_provider(dir);
    assert_eq!(r.run.status, RunStatus::Stopped);
    let token = e.store().next_token(r.run.id).unwrap();
    let intent = loom_kernel::Intent {
        key: "r1/work#1",
        step: "work",
        kind: "agent",
        retry_safe: false,
        request: None,
    };
    assert_eq!(e.store().record_intent(&token, &intent).unwrap(), 2);
    std::fs::write(dir.join("loom.toml"), CONFIG).unwrap();
    Engine::open(dir, Box::new(Silent), "test").unwrap()
}

#[test]
fn an_uncertain_effect_that_is_not_retry_safe_waits_for_a_human_who_may_redo_it() {
    let dir = project(REPLIES, CONFIG);
    let mut e = crashed_mid_effect(dir.path());
    let r = e.resume().unwrap();
    assert_eq!(r.run.status, RunStatus::Waiting);
    let gate = &r.waiting_on[0];
    assert_eq!(gate.name, "uncertain:r1/work#1#2");
    assert!(
        gate.summary.contains("may or may not have happened"),
        "{}",
        gate.summary
    );
    assert_eq!(e.status().unwrap().uncertain.len(), 1);
    // Resuming again does not slip past the gate.
    assert!(e.resume().is_err());
    let r = e
        .decide(&gate.name, true, Some("checked the tree"), "ann")
        .unwrap();
    assert_eq!(r.run.status, RunStatus::Waiting);
    assert_eq!(
        r.waiting_on[0].name, "finish",
        "the effect was redone and the run went on"
    );
    let s: Vec<LedgerStatus> = e
        .store()
        .attempts(1, "r1/work#1")
        .unwrap()
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(
        s,
        [
            LedgerStatus::Failed,
            LedgerStatus::Superseded,
            LedgerStatus::Done
        ]
    );
}

#[test]
fn rejecting_an_uncertain_effect_ends_the_run() {
    let dir = project(REPLIES, CONFIG);
    let mut e = crashed_mid_effect(dir.path());
    let r = e.resume().unwrap();
    let name = r.waiting_on[0].name.clone();
    let r = e
        .decide(&name, false, Some("it already happened; stop"), "ann")
        .unwrap();
    assert_eq!(r.run.status, RunStatus::Failed);
    assert!(e.store().open_task().unwrap().is_none());
}

#[test]
fn a_bundle_is_stored_once_compressed_and_a_new_process_runs_on_the_stored_copy() {
    let dir = project(REPLIES, CONFIG);
    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    e.start("one", loom_guests::TESTKIT, None).unwrap();
    e.decide("finish", true, None, "ann").unwrap();
    let r = e.start("two", loom_guests::TESTKIT, None).unwrap();
    let hash = r.run.bundle_hash.clone();
    assert_eq!(
        e.store().blob(&hash).unwrap().as_deref(),
        Some(loom_guests::TESTKIT)
    );
    drop(e);

    let conn = rusqlite::Connection::open(dir.path().join(".loom/loom.db")).unwrap();
    let (copies, codec, size, stored): (i64, String, i64, i64) = conn
        .query_row(
            "SELECT count(*), max(codec), max(size), max(length(data)) FROM blobs WHERE hash = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    drop(conn);
    assert_eq!(copies, 1);
    assert_eq!(codec, "zstd");
    assert_eq!(size, loom_guests::TESTKIT.len() as i64);
    assert!(stored * 2 < size, "{stored} bytes stored of {size}");

    let mut e = Engine::open(dir.path(), Box::new(Silent), "test").unwrap();
    let r = e.decide("finish", true, None, "ann").unwrap();
    assert_eq!(r.run.status, RunStatus::Done);
}
