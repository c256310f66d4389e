//! The bounded reads of a view agree with the whole reads they replace, and use an index.

use crate::query;
use crate::*;

fn start(store: &Store) -> u64 {
    let new = NewRun {
        title: "task".into(),
        bundle_name: "t".into(),
        bundle_version: "0.2.0".into(),
        bundle_hash: "h".into(),
        phase: "one".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    run
}

/// A run with several openings of two gates and ledger rows of three steps, some sharing a
/// tick (so the order within a tick, by key, matters).
fn busy_run(store: &Store) -> u64 {
    let run = start(store);
    for round in 0..4u32 {
        let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
        for step in ["alpha", "beta", "gamma"] {
            let key = format!("r{run}/{step}#{round}");
            tick.record_call(&key, step, "agent-call", LedgerStatus::Done, step, "{}")
                .unwrap();
        }
        let id = tick
            .open_gate("accept", Decider::Human, Risk::Low, "ok?")
            .unwrap();
        if round % 2 == 0 {
            tick.decide_gate(id, false, Decider::Human, "ann", "cli", Some("again"))
                .unwrap();
        }
        tick.commit(TickMeta::new(TickKind::Effect, "round"), None)
            .unwrap();
    }
    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
    tick.open_gate("plan", Decider::Rule, Risk::Low, "plan?")
        .unwrap();
    tick.commit(TickMeta::new(TickKind::GateOpen, "plan"), None)
        .unwrap();
    run
}

#[test]
fn bounded_reads_agree_with_the_whole_reads() {
    let store = Store::open_in_memory().unwrap();
    let run = busy_run(&store);
    let view = store.view(run);
    let gates = view.gates().unwrap();
    let ledger = view.ledger().unwrap();
    assert_eq!(ledger.len(), 12);
    for name in ["accept", "plan", "nope"] {
        let want = gates.iter().rev().find(|g| g.name == name).cloned();
        assert_eq!(view.latest_gate(name).unwrap(), want, "{name}");
    }
    assert_eq!(
        view.latest_gate("accept").unwrap().map(|g| g.status),
        Some(GateStatus::Pending)
    );
    for step in ["alpha", "beta", "gamma", "nope"] {
        let want: Vec<LedgerRow> = ledger.iter().filter(|r| r.step == step).cloned().collect();
        assert_eq!(view.ledger_of(step).unwrap(), want, "{step}");
    }
    for limit in [0u32, 1, 2, 5, 12, 100] {
        let from = ledger.len().saturating_sub(limit as usize);
        assert_eq!(view.ledger_last(limit).unwrap(), ledger[from..], "{limit}");
    }
}

/// What SQLite plans for `sql`, one line per step of the plan.
fn plan(store: &Store, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    let mut st = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    st.query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
}

#[test]
fn bounded_reads_use_an_index_and_sort_nothing() {
    let store = Store::open_in_memory().unwrap();
    busy_run(&store);
    let gate = plan(&store, &query::latest_gate_sql(), (1, "accept"));
    assert!(
        gate.iter()
            .any(|l| l.contains("USING COVERING INDEX gates_name (run_id=? AND name=?)"))
            && gate
                .iter()
                .any(|l| l.contains("USING PRIMARY KEY (run_id=? AND id=?)")),
        "{gate:?}"
    );
    let step = plan(&store, &query::ledger_of_sql(), (1, "write"));
    assert!(
        step.iter()
            .any(|l| l.contains("USING INDEX ledger_step (run_id=? AND step=?)")),
        "{step:?}"
    );
    for plan in [&gate, &step] {
        assert!(!plan.iter().any(|l| l.contains("TEMP B-TREE")), "{plan:?}");
    }
    let plan = plan(&store, &query::ledger_last_sql(), (1, 3));
    assert!(
        plan.iter().any(|l| l.contains("USING INDEX ledger_order")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|l| l.contains("TEMP B-TREE")), "{plan:?}");
}

/// A page of the log reads its ticks' ledger rows through `ledger_order`, and the same rows a
/// whole read gives.
#[test]
fn ledger_rows_between_two_ticks_agree_with_the_whole_ledger_and_use_the_index() {
    let store = Store::open_in_memory().unwrap();
    let run = busy_run(&store);
    let ledger = store.ledger(run).unwrap();
    let last = store.run(run).unwrap().last_seq;
    for from in 0..=last {
        for to in from..=last + 1 {
            let want: Vec<LedgerRow> = ledger
                .iter()
                .filter(|r| r.seq > from && r.seq <= to)
                .cloned()
                .collect();
            assert_eq!(
                store.ledger_between(run, from, to).unwrap(),
                want,
                "{from}..{to}"
            );
        }
    }
    let plan = plan(&store, &query::ledger_between_sql(), (1, 2, 3));
    assert!(
        plan.iter()
            .any(|l| l.contains("USING INDEX ledger_order (run_id=? AND seq>?")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|l| l.contains("TEMP B-TREE")), "{plan:?}");
}
