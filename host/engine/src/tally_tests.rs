//! The tally against a recount: random runs of effects (applied, refused by a rule or for
//! their cost, held after a fault, failed, interrupted, rolled back, re-used, with damaged
//! metadata) and, after every step, the tally kept up to date equals one read afresh from the
//! ledger and the counts the engine used to take by reading the whole ledger; inside an open
//! tick, the budget decided from the running spend equals the exact recount.

use super::Tally;
use crate::budget::{AtCommit, Budget, Caps, Running};
use crate::run_effect::settled;
use loom_kernel::{
    Intent, LedgerStatus, NewRun, Rules, Store, TickKind, TickMeta, TickToken, View, Violation,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const STEPS: [&str; 3] = ["work", "review", "apply"];
const ROLES: [&str; 2] = ["worker", "reviewer"];
/// Dollar amounts, a tiny one among them, so sums taken in another order can differ.
const USD: [f64; 5] = [0.0, 0.001, 0.25, 1e-17, 0.1];

#[derive(Clone, Copy, Debug)]
enum End {
    Applied,
    RefusedByRule,
    RefusedForCost,
    HeldAfterFault,
    Failed,
    /// The process died after the intent: the row stays an intent.
    Interrupted,
    /// The tick with the result rolled back and nothing else was recorded.
    RolledBack,
    /// The metadata does not parse.
    Damaged,
}

#[derive(Clone, Debug)]
struct Op {
    step: usize,
    role: usize,
    usd: usize,
    tokens: u64,
    end: End,
    /// A failed provider call recorded in the same tick (with its own cost).
    call: bool,
    diff: bool,
}

fn op() -> impl Strategy<Value = Op> {
    let end = prop_oneof![
        4 => Just(End::Applied),
        1 => Just(End::RefusedByRule),
        1 => Just(End::RefusedForCost),
        1 => Just(End::HeldAfterFault),
        1 => Just(End::Failed),
        1 => Just(End::Interrupted),
        1 => Just(End::RolledBack),
        1 => Just(End::Damaged),
    ];
    (
        0..3usize,
        0..2usize,
        0..5usize,
        0..2000u64,
        end,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(step, role, usd, tokens, end, call, diff)| Op {
            step,
            role,
            usd,
            tokens,
            end,
            call,
            diff,
        })
}

struct Refuse(&'static str);

impl Rules for Refuse {
    fn check(&self, _: &TickToken, _: &View) -> Result<Vec<Violation>, String> {
        Ok(vec![Violation {
            rule: self.0.into(),
            message: "no".into(),
            rows: vec![],
        }])
    }
}

fn new_run(store: &Store) -> u64 {
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
    run
}

/// Performs `op` as the engine would, taking the next key of its step from `tally`, which it
/// also brings up to date between the intent and the result, as the engine does (the turn of
/// an agent call is read then).
fn perform(store: &Store, run: u64, tally: &mut Tally, op: &Op) {
    let step = STEPS[op.step];
    let key = format!("r{run}/{step}#{}", tally.settled_keys(step) + 1);
    let kind = if op.diff { "apply-diff" } else { "agent" };
    let mut meta = serde_json::json!({"role": ROLES[op.role], "cost_usd": USD[op.usd],
        "input_tokens": op.tokens, "output_tokens": 1});
    let token = store.next_token(run).unwrap();
    let request = format!("{{\"source\":\"s\",\"diff\":\"{key}\"}}");
    let intent = Intent {
        key: &key,
        step,
        kind,
        retry_safe: true,
        request: Some(request.as_bytes()),
    };
    let attempt = store.record_intent(&token, &intent).unwrap();
    tally.refresh(store).unwrap();
    if attempt > 1 {
        // A held result is used again, not bought again.
        meta["reused_from"] = (attempt - 1).into();
    }
    let meta = match op.end {
        End::Damaged => "{not json".to_owned(),
        _ => meta.to_string(),
    };
    match op.end {
        End::Interrupted => {}
        End::Failed => store
            .record_failed_attempt(&token, &key, attempt, "failed", &meta)
            .unwrap(),
        _ => {
            let mut tick = store.begin(token).unwrap();
            for a in 1..attempt {
                tick.supersede(&key, a).unwrap();
            }
            if op.call {
                let call = serde_json::json!({"role": ROLES[op.role], "cost_usd": 0.002});
                tick.record_call(
                    &format!("{key}.{attempt}/call1"),
                    step,
                    "agent-call",
                    LedgerStatus::Failed,
                    "overloaded",
                    &call.to_string(),
                )
                .unwrap();
            }
            let summary = TickMeta::new(TickKind::Effect, step).step(step);
            match op.end {
                End::HeldAfterFault => {
                    let mut m: serde_json::Value = serde_json::from_str(&meta).unwrap_or_default();
                    m["unapplied"] = "bundle-fault".into();
                    tick.record_unapplied(&key, attempt, Some(b"r"), "s", &m.to_string())
                        .unwrap();
                    tick.commit(summary, None).unwrap();
                }
                End::RolledBack => {
                    tick.record_result(&key, attempt, Some(b"r"), "s", &meta)
                        .unwrap();
                    drop(tick);
                }
                End::RefusedByRule | End::RefusedForCost => {
                    tick.record_result(&key, attempt, Some(b"r"), "s", &meta)
                        .unwrap();
                    let rule = match op.end {
                        End::RefusedForCost => Refuse(crate::budget::RULE),
                        _ => Refuse("other"),
                    };
                    tick.commit(summary, Some(&rule)).unwrap_err();
                    // The run stopped; the next effect goes on as a resume would.
                    let mut t = store.begin(store.next_token(run).unwrap()).unwrap();
                    t.set_status(loom_kernel::RunStatus::Running, None).unwrap();
                    t.commit(TickMeta::new(TickKind::Resume, "resumed"), None)
                        .unwrap();
                }
                _ => {
                    tick.record_result(&key, attempt, Some(b"r"), "s", &meta)
                        .unwrap();
                    tick.commit(summary, None).unwrap();
                }
            }
        }
    }
}

/// What the engine computed by reading the whole ledger, before the tally.
fn recounted(store: &Store, run: u64) -> (BTreeMap<String, usize>, BTreeMap<String, u32>) {
    let ledger = store.ledger(run).unwrap();
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut turns = BTreeMap::new();
    for r in ledger.iter().filter(|r| settled(r)) {
        keys.entry(r.step.clone())
            .or_default()
            .insert(r.key.clone());
        if r.kind == "agent" {
            let role = serde_json::from_str::<serde_json::Value>(&r.meta)
                .ok()
                .and_then(|m| m["role"].as_str().map(str::to_owned));
            if let Some(role) = role {
                *turns.entry(role).or_default() += 1;
            }
        }
    }
    (keys.into_iter().map(|(s, k)| (s, k.len())).collect(), turns)
}

fn counts(t: &Tally) -> (BTreeMap<String, usize>, BTreeMap<String, u32>) {
    let keys = STEPS
        .iter()
        .map(|s| (s.to_string(), t.settled_keys(s)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let turns = ROLES
        .iter()
        .map(|r| (r.to_string(), t.turn(r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    (keys, turns)
}

fn running(store: &Store, run: u64) -> Running {
    let mut r = Running::default();
    for l in store.ledger(run).unwrap() {
        r.add(&l);
    }
    r
}

/// Caps at, just under and just over what was spent, and far away.
fn caps_around(spent: &Running) -> Vec<Caps> {
    let (usd, tokens) = spent.run_totals();
    let mut out = Vec::new();
    for u in [
        usd,
        usd * (1.0 - 1e-15),
        usd * (1.0 + 1e-15),
        usd + 1.0,
        0.0,
    ] {
        for t in [Some(tokens), tokens.checked_sub(1), None] {
            let caps = serde_json::json!({"run": {"usd": u, "tokens": t},
                "roles": {"worker": {"usd": u / 2.0}}});
            out.push(serde_json::from_value(caps).unwrap());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_tally_agrees_with_a_recount_after_every_step(ops in prop::collection::vec(op(), 1..30)) {
        let store = Store::open_in_memory().unwrap();
        let run = new_run(&store);
        let mut tally = Tally::new(&store, run).unwrap();
        for op in &ops {
            perform(&store, run, &mut tally, op);
            tally.refresh(&store).unwrap();
            let fresh = Tally::new(&store, run).unwrap();
            prop_assert_eq!(counts(&tally), recounted(&store, run));
            prop_assert_eq!(counts(&fresh), counts(&tally));
            prop_assert!(tally.spent().same_as(fresh.spent()), "{:?} vs {:?}", tally.spent(), fresh.spent());
            prop_assert!(tally.spent().same_as(&running(&store, run)));
            let ids = |t: &Tally| t.unfinished_diffs().map(|r| (r.key.clone(), r.attempt)).collect::<Vec<_>>();
            prop_assert_eq!(ids(&tally), ids(&fresh));
        }
    }

    #[test]
    fn inside_a_tick_the_running_spend_decides_as_the_recount(ops in prop::collection::vec(op(), 1..20), last in op()) {
        let store = Store::open_in_memory().unwrap();
        let run = new_run(&store);
        let mut tally = Tally::new(&store, run).unwrap();
        for op in &ops {
            perform(&store, run, &mut tally, op);
            tally.refresh(&store).unwrap();
        }
        // The last effect's tick is held open: its result and call are in the transaction.
        let step = STEPS[last.step];
        let key = format!("r{run}/{step}#{}", tally.settled_keys(step) + 1);
        let token = store.next_token(run).unwrap();
        let intent = Intent { key: &key, step, kind: "agent", retry_safe: true, request: None };
        let attempt = store.record_intent(&token, &intent).unwrap();
        let mut tick = store.begin(token).unwrap();
        let meta = serde_json::json!({"role": ROLES[last.role], "cost_usd": USD[last.usd],
            "input_tokens": last.tokens});
        tick.record_result(&key, attempt, Some(b"r"), "s", &meta.to_string()).unwrap();
        let in_tick = tally.spent_in_tick(&store).unwrap();
        prop_assert!(in_tick.same_as(&running(&store, run)));
        let view = tick.view();
        for caps in caps_around(&running(&store, run)) {
            let Some(budget) = Budget::from_caps(&caps, true) else { continue };
            let exact = budget.check(&token, &view);
            let fast = AtCommit { budget: &budget, spent: Some(in_tick.clone()) }.check(&token, &view);
            prop_assert_eq!(exact, fast);
        }
    }
}

#[test]
fn a_refresh_counts_a_row_once_however_often_it_is_asked() {
    let store = Store::open_in_memory().unwrap();
    let run = new_run(&store);
    let mut tally = Tally::new(&store, run).unwrap();
    let op = Op {
        step: 0,
        role: 0,
        usd: 2,
        tokens: 10,
        end: End::Applied,
        call: true,
        diff: false,
    };
    perform(&store, run, &mut tally, &op);
    for _ in 0..3 {
        tally.refresh(&store).unwrap();
    }
    assert_eq!(tally.settled_keys("work"), 1);
    assert_eq!(tally.turn("worker"), 1);
    let (usd, tokens) = tally.spent().run_totals();
    assert!((usd - 0.252).abs() < 1e-12, "{usd}");
    assert_eq!(tokens, 11);
}

/// Dollar sums depend on the order they are taken in, and the running total may be taken in
/// another order than the recount: a spend that lands on its cap is left to the recount.
#[test]
fn a_spend_on_its_cap_is_left_to_the_exact_recount() {
    let store = Store::open_in_memory().unwrap();
    let run = new_run(&store);
    let mut rows = Vec::new();
    for (key, usd) in [("a", 0.1), ("b", 0.2), ("c", 0.3)] {
        let token = store.next_token(run).unwrap();
        let intent = Intent {
            key,
            step: "work",
            kind: "agent",
            retry_safe: true,
            request: None,
        };
        store.record_intent(&token, &intent).unwrap();
        let meta = serde_json::json!({"role": "worker", "cost_usd": usd}).to_string();
        let mut tick = store.begin(token).unwrap();
        tick.record_result(key, 1, Some(b"r"), "s", &meta).unwrap();
        tick.commit(TickMeta::new(TickKind::Effect, "work"), None)
            .unwrap();
        rows.push(store.attempts(run, key).unwrap().remove(0));
    }
    // The recount takes (0.1 + 0.2) + 0.3 = 0.6000000000000001, over a cap of 0.6; the same
    // rows added as 0.2, 0.3, 0.1 come to exactly 0.6.
    let mut spent = Running::default();
    for i in [1, 2, 0] {
        spent.add(&rows[i]);
    }
    assert_eq!(spent.run_totals().0, 0.6);
    let caps: Caps = serde_json::from_value(serde_json::json!({"run": {"usd": 0.6}})).unwrap();
    let budget = Budget::from_caps(&caps, true).unwrap();
    let token = store.next_token(run).unwrap();
    let view = store.view(run);
    let exact = budget.check(&token, &view).unwrap();
    assert_eq!(exact.len(), 1, "the recount is over the cap");
    let fast = AtCommit {
        budget: &budget,
        spent: Some(spent),
    }
    .check(&token, &view)
    .unwrap();
    assert_eq!(fast, exact);
}
