//! The reads a tick makes cost the same however long the run: each goes through an index or
//! the table's key, never through every row of the run (checked on SQLite's own query plan),
//! and reads what a full read would.

use crate::*;

fn run_with_gates(store: &Store, decided: usize) -> u64 {
    let new = NewRun {
        title: "t".into(),
        bundle_name: "b".into(),
        bundle_version: "1".into(),
        bundle_hash: "h".into(),
        phase: "p".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    for i in 0..decided + 1 {
        let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
        let id = tick
            .open_gate("finish", Decider::Human, Risk::Low, &format!("shown {i}"))
            .unwrap();
        tick.commit(TickMeta::new(TickKind::GateOpen, "open"), None)
            .unwrap();
        if i < decided {
            let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
            tick.decide_gate(id, false, Decider::Human, "ann", "cli", Some("no"))
                .unwrap();
            tick.commit(TickMeta::new(TickKind::Decision, "no"), None)
                .unwrap();
        }
    }
    run
}

/// SQLite's plan for `sql`, one line per step.
fn plan(store: &Store, sql: &str) -> String {
    let mut st = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    let n = st.parameter_count();
    let params: Vec<i64> = vec![1; n];
    st.query_map(rusqlite::params_from_iter(params), |r| {
        r.get::<_, String>(3)
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
    .join("; ")
}

#[test]
fn the_pending_gate_is_found_without_reading_the_decided_ones() {
    let store = Store::open_in_memory().unwrap();
    let run = run_with_gates(&store, 20);
    let pending = store.pending_gate(run, "finish").unwrap().unwrap();
    let all = store.gates(run).unwrap();
    let expected = all
        .iter()
        .rev()
        .find(|g| g.name == "finish" && g.status == GateStatus::Pending)
        .unwrap();
    assert_eq!(&pending, expected);
    assert_eq!(store.pending_gates(run).unwrap(), vec![pending.clone()]);
    assert_eq!(
        store.gate(run, pending.id).unwrap().as_ref(),
        Some(expected)
    );
    assert!(store.pending_gate(run, "other").unwrap().is_none());
    let p = plan(
        &store,
        &format!(
            "SELECT id FROM {} WHERE run_id = ?1 AND name = ?2 AND status = 'pending' \
             ORDER BY id DESC LIMIT 1",
            crate::query::pending_from(store.indexed)
        ),
    );
    assert!(p.contains("INDEX gates_pending"), "{p}");
    let p = plan(
        &store,
        &format!(
            "SELECT id FROM {} WHERE run_id = ?1 AND status = 'pending' ORDER BY id",
            crate::query::pending_from(store.indexed)
        ),
    );
    assert!(p.contains("INDEX gates_pending"), "{p}");
    assert!(store.indexed);
}

#[test]
fn a_decision_reads_its_gate_by_key() {
    let store = Store::open_in_memory().unwrap();
    let run = run_with_gates(&store, 3);
    let pending = store.pending_gate(run, "finish").unwrap().unwrap();
    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
    // A decided gate cannot be decided again; the pending one can.
    let decided = store.gates(run).unwrap()[0].id;
    let err = tick
        .decide_gate(decided, true, Decider::Human, "ann", "cli", None)
        .unwrap_err();
    assert!(matches!(err, KernelError::NoSuchGate(_)), "{err}");
    tick.decide_gate(pending.id, true, Decider::Human, "ann", "cli", None)
        .unwrap();
    tick.commit(TickMeta::new(TickKind::Decision, "yes"), None)
        .unwrap();
    assert!(store.pending_gates(run).unwrap().is_empty());
}

#[test]
fn ledger_rows_after_one_are_read_by_the_table_key() {
    let store = Store::open_in_memory().unwrap();
    let run = run_with_gates(&store, 0);
    for i in 0..5 {
        let token = store.next_token(run).unwrap();
        let key = format!("k{i}");
        let intent = Intent {
            key: &key,
            step: "s",
            kind: "agent",
            retry_safe: true,
            request: None,
        };
        store.record_intent(&token, &intent).unwrap();
        let mut tick = store.begin(token).unwrap();
        tick.record_result(&key, 1, Some(b"r"), "ok", "{}").unwrap();
        tick.commit(TickMeta::new(TickKind::Effect, "e"), None)
            .unwrap();
    }
    let all = store.ledger_after(run, 0).unwrap();
    assert_eq!(
        all.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        store.ledger(run).unwrap()
    );
    let (third, _) = all[2];
    let rest = store.ledger_after(run, third).unwrap();
    assert_eq!(rest, all[3..].to_vec());
    assert_eq!(
        store.ledger_row(run, third).unwrap().as_ref(),
        Some(&all[2].1)
    );
    assert!(store.ledger_row(run + 1, third).unwrap().is_none());
    let p = plan(
        &store,
        "SELECT key FROM ledger WHERE id > ?2 AND +run_id = ?1 ORDER BY id",
    );
    assert!(p.contains("INTEGER PRIMARY KEY (rowid>?)"), "{p}");
}

#[test]
fn a_run_s_violations_are_read_through_their_index() {
    let store = Store::open_in_memory().unwrap();
    let p = plan(
        &store,
        "SELECT rule FROM violations WHERE run_id = ?1 ORDER BY id",
    );
    assert!(p.contains("USING INDEX violations_run"), "{p}");
}

/// A database of an older schema (opened read-only, so not migrated) has no such index: the
/// same reads work there, reading the run's gates.
#[test]
fn without_the_index_pending_gates_are_still_found() {
    let mut store = Store::open_in_memory().unwrap();
    let run = run_with_gates(&store, 4);
    let with = store.pending_gates(run).unwrap();
    store
        .conn
        .execute_batch("DROP INDEX gates_pending")
        .unwrap();
    store.indexed = false;
    assert_eq!(store.pending_gates(run).unwrap(), with);
    assert_eq!(
        store.pending_gate(run, "finish").unwrap(),
        with.last().cloned()
    );
}
