//! Kernel behaviour with no bundle runtime at all: rules here are plain Rust closures.

use crate::*;

struct FnRules<F: Fn(&View) -> std::result::Result<Vec<Violation>, String>>(F);

impl<F: Fn(&View) -> std::result::Result<Vec<Violation>, String>> Rules for FnRules<F> {
    fn check(
        &self,
        _token: &TickToken,
        view: &View,
    ) -> std::result::Result<Vec<Violation>, String> {
        (self.0)(view)
    }
}

/// Refuses any state holding a fact of kind "bad".
fn no_bad() -> FnRules<impl Fn(&View) -> std::result::Result<Vec<Violation>, String>> {
    FnRules(|v: &View| {
        Ok(v.facts("bad")
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| Violation {
                rule: "no-bad".into(),
                message: format!("fact {} is bad", f.key),
                rows: vec![format!("fact:bad/{}", f.key)],
            })
            .collect())
    })
}

fn new_run(title: &str) -> NewRun {
    NewRun {
        title: title.into(),
        bundle_name: "t".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "h".into(),
        phase: "one".into(),
        settings: r#"{"limit": 3}"#.into(),
        options: "{}".into(),
    }
}

fn start(store: &Store) -> u64 {
    let tick = store.begin_run(&new_run("task"), None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    run
}

fn token(store: &Store, run: u64) -> TickToken {
    store.next_token(run).unwrap()
}

#[test]
fn a_run_starts_with_one_chained_tick_and_settings_are_visible() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let ticks = store.ticks(run).unwrap();
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].prev_hash, GENESIS);
    assert_eq!(
        store.view(run).setting("limit").unwrap().as_deref(),
        Some("3")
    );
    assert_eq!(store.view(run).setting("nope").unwrap(), None);
    assert_eq!(store.view(run).task().unwrap().title, "task");
    verify_chain(&ticks).unwrap();
}

#[test]
fn a_second_open_task_is_refused_by_name() {
    let store = Store::open_in_memory().unwrap();
    start(&store);
    let err = store.begin_run(&new_run("other"), None).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("task #1 \"task\" is still open"), "{msg}");
    assert!(msg.contains("loom abandon"), "{msg}");
}

#[test]
fn writes_commit_together_and_every_timestamp_comes_from_the_token() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let t = token(&store, run);
    let attempt = store
        .record_intent(
            &t,
            &Intent {
                key: "k1",
                step: "s",
                kind: "agent",
                retry_safe: true,
                request: Some(b"ask"),
            },
        )
        .unwrap();
    assert_eq!(attempt, 1);
    let mut tick = store.begin(t).unwrap();
    tick.record_result("k1", 1, Some(b"answer"), "ok", "{}")
        .unwrap();
    tick.put_fact("k", "a", "1").unwrap();
    tick.set_phase("two").unwrap();
    let row = tick
        .commit(
            TickMeta::new(TickKind::Effect, "did s").step("s"),
            Some(&no_bad()),
        )
        .unwrap();
    assert_eq!(row.unix_ms, t.unix_ms);
    let l = &store.attempts(run, "k1").unwrap()[0];
    assert_eq!(l.status, LedgerStatus::Done);
    assert_eq!((l.intent_ms, l.result_ms), (t.unix_ms, Some(t.unix_ms)));
    let result = store.result(run, "k1", l.attempt).unwrap().unwrap();
    assert_eq!(result, b"answer");
    assert_eq!(
        l.result_hash.as_deref(),
        Some(hash::sha256_hex(b"answer").as_str())
    );
    assert_eq!(store.run(run).unwrap().phase, "two");
    assert_eq!(store.run(run).unwrap().last_seq, 2);
    verify_chain(&store.ticks(run).unwrap()).unwrap();
}

#[test]
fn a_violation_rolls_the_tick_back_and_is_recorded_in_its_own_tick() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let t = token(&store, run);
    store
        .record_intent(
            &t,
            &Intent {
                key: "k",
                step: "s",
                kind: "agent",
                retry_safe: true,
                request: None,
            },
        )
        .unwrap();
    let mut tick = store.begin(t).unwrap();
    tick.record_result("k", 1, Some(b"r"), "ok", "{}").unwrap();
    tick.put_fact("bad", "x", "{}").unwrap();
    tick.set_phase("two").unwrap();
    let err = tick
        .commit(
            TickMeta::new(TickKind::Effect, "s").step("s"),
            Some(&no_bad()),
        )
        .unwrap_err();
    assert!(
        matches!(&err, KernelError::Violated(v) if v[0].rule == "no-bad"),
        "{err}"
    );
    // Nothing of the refused tick survived...
    assert!(store.view(run).facts("bad").unwrap().is_empty());
    let r = store.run(run).unwrap();
    assert_eq!(r.phase, "one");
    // ...but the violation, the run's stop and the effect's result (refused) are on record.
    assert_eq!(r.status, RunStatus::Stopped);
    assert!(r.stop_reason.unwrap().contains("no-bad"));
    let v = store.violations(run).unwrap();
    assert_eq!(
        (v.len(), v[0].rows.clone()),
        (1, vec!["fact:bad/x".to_string()])
    );
    assert_eq!(
        store.attempts(run, "k").unwrap()[0].status,
        LedgerStatus::Refused
    );
    let ticks = store.ticks(run).unwrap();
    assert_eq!(ticks.last().unwrap().kind, TickKind::Violation);
    verify_chain(&ticks).unwrap();
}

#[test]
fn rules_that_cannot_run_roll_back_and_write_nothing() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let mut tick = store.begin(token(&store, run)).unwrap();
    tick.put_fact("k", "a", "1").unwrap();
    let broken = FnRules(|_: &View| Err("trap: unreachable".to_string()));
    let err = tick
        .commit(TickMeta::new(TickKind::Effect, "s"), Some(&broken))
        .unwrap_err();
    assert!(matches!(err, KernelError::Rules(ref m) if m.contains("unreachable")));
    assert!(store.view(run).facts("k").unwrap().is_empty());
    assert_eq!(store.ticks(run).unwrap().len(), 1);
    // The store is still usable.
    let tick = store.begin(token(&store, run)).unwrap();
    tick.commit(TickMeta::new(TickKind::Effect, "again"), Some(&no_bad()))
        .unwrap();
}

#[test]
fn a_dropped_tick_rolls_back() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    {
        let mut tick = store.begin(token(&store, run)).unwrap();
        tick.put_fact("k", "a", "1").unwrap();
    }
    assert!(store.view(run).facts("k").unwrap().is_empty());
}

#[test]
fn a_stale_token_is_a_conflict() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let t = token(&store, run);
    store
        .begin(t)
        .unwrap()
        .commit(TickMeta::new(TickKind::Effect, "a"), None)
        .unwrap();
    let err = store.begin(t).err().unwrap();
    assert!(matches!(err, KernelError::Conflict { seq: 2, .. }), "{err}");
}

#[test]
fn gates_are_decided_only_by_their_decider_and_bound_to_what_was_shown() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let mut tick = store.begin(token(&store, run)).unwrap();
    let id = tick
        .open_gate("final", Decider::Human, Risk::High, "shown text")
        .unwrap();
    tick.commit(TickMeta::new(TickKind::GateOpen, "open"), None)
        .unwrap();
    let mut tick = store.begin(token(&store, run)).unwrap();
    let err = tick
        .decide_gate(id, true, Decider::Agent, "bot", "cli", None)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("for a human to decide, not an agent"),
        "{err}"
    );
    tick.decide_gate(id, true, Decider::Human, "ann", "cli", Some("ok"))
        .unwrap();
    tick.commit(TickMeta::new(TickKind::Decision, "decide"), None)
        .unwrap();
    let g = &store.gates(run).unwrap()[0];
    assert_eq!(g.status, GateStatus::Approved);
    assert_eq!(g.shown_hash, hash::sha256_hex(b"shown text"));
    assert_eq!(
        (g.decided_by.as_deref(), g.transport.as_deref()),
        (Some("ann"), Some("cli"))
    );
}

#[test]
fn finishing_a_run_closes_its_task_and_frees_the_project() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let mut tick = store.begin(token(&store, run)).unwrap();
    tick.set_status(RunStatus::Done, None).unwrap();
    tick.commit(TickMeta::new(TickKind::Finish, "done"), None)
        .unwrap();
    assert!(store.open_task().unwrap().is_none());
    start(&store);
}

#[test]
fn verify_finds_an_edited_a_deleted_and_a_reordered_tick() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loom.db");
    let store = Store::open(&path, Durability::Normal).unwrap();
    let run = start(&store);
    for i in 0..4 {
        let mut tick = store.begin(token(&store, run)).unwrap();
        tick.put_fact("n", "i", &i.to_string()).unwrap();
        tick.commit(TickMeta::new(TickKind::Effect, format!("tick {i}")), None)
            .unwrap();
    }
    let ticks = store.ticks(run).unwrap();
    verify_chain(&ticks).unwrap();

    let mut edited = ticks.clone();
    edited[2].summary = "something else".into();
    let b = verify_chain(&edited).unwrap_err();
    assert_eq!((b.seq, b.problem.contains("edited")), (3, true));

    let mut deleted = ticks.clone();
    deleted.remove(1);
    assert_eq!(verify_chain(&deleted).unwrap_err().seq, 3);

    let mut swapped = ticks.clone();
    swapped.swap(1, 2);
    assert!(verify_chain(&swapped).is_err());

    // And through the file itself, as a user with the sqlite3 CLI would edit it.
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE ticks SET changes = '[]' WHERE seq = 4", [])
        .unwrap();
    drop(raw);
    let store = Store::open_read_only(&path).unwrap();
    let b = verify_chain(&store.ticks(run).unwrap()).unwrap_err();
    assert_eq!(b.seq, 4);
}

#[test]
fn a_retry_safe_intent_restores_full_durability_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("loom.db"), Durability::Full).unwrap();
    let run = start(&store);
    let t = token(&store, run);
    store
        .record_intent(
            &t,
            &Intent {
                key: "k",
                step: "s",
                kind: "agent",
                retry_safe: true,
                request: None,
            },
        )
        .unwrap();
    let sync: i64 = store
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous must be FULL again");
    let again = store
        .record_intent(
            &t,
            &Intent {
                key: "k",
                step: "s",
                kind: "agent",
                retry_safe: true,
                request: None,
            },
        )
        .unwrap();
    assert_eq!(again, 2, "a second intent for the same key is attempt 2");
}

#[test]
fn fact_count_sees_the_open_ticks_writes_and_only_its_run() {
    let store = Store::open_in_memory().unwrap();
    let run = start(&store);
    let mut tick = store.begin(token(&store, run)).unwrap();
    assert_eq!(tick.view().fact_count().unwrap(), 0);
    tick.put_fact("k", "a", "1").unwrap();
    tick.put_fact("k", "b", "1").unwrap();
    tick.put_fact("k", "a", "2").unwrap();
    assert_eq!(tick.view().fact_count().unwrap(), 2);
    tick.drop_fact("k", "b").unwrap();
    assert_eq!(tick.view().fact_count().unwrap(), 1);
    drop(tick);
    assert_eq!(store.view(run).fact_count().unwrap(), 0);
}

#[test]
fn the_last_run_is_the_newest_overall_and_of_its_task() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.last_run(None).unwrap().is_none());
    let mut ids = Vec::new();
    for i in 0..3 {
        let new = NewRun {
            title: format!("t{i}"),
            bundle_name: "b".into(),
            bundle_version: "0.1.0".into(),
            bundle_hash: "h".into(),
            phase: "p".into(),
            settings: "{}".into(),
            options: "{}".into(),
        };
        let mut tick = store.begin_run(&new, None).unwrap();
        let run = tick.token().run;
        tick.set_status(RunStatus::Done, None).unwrap();
        tick.commit(TickMeta::new(TickKind::Start, "start"), None)
            .unwrap();
        ids.push(run);
    }
    let last = store.last_run(None).unwrap().unwrap();
    assert_eq!(last.id, *ids.last().unwrap());
    assert_eq!(last, store.runs().unwrap().pop().unwrap());
    let first = store.runs().unwrap()[0].clone();
    assert_eq!(store.last_run(Some(first.task_id)).unwrap(), Some(first));
}
