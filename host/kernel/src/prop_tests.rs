//! Properties over random runs: whatever sequence of ticks, facts, long texts, effects, gates,
//! refused ticks and crashes a run goes through, its chain verifies, it replays tick for tick,
//! and no committed state ever breaks its rule.

use crate::*;
use proptest::prelude::*;

/// One thing that happens to the run.
#[derive(Clone, Debug)]
enum Op {
    /// A tick writing a fact; `forbidden` ones break the rule, so that tick must be refused.
    Fact {
        key: u8,
        value_len: usize,
        forbidden: bool,
    },
    DropFact {
        key: u8,
    },
    /// A note, long ones exercising the blob store.
    Note {
        len: usize,
    },
    /// An effect: its intent, then (unless the process dies first) its result in a tick.
    Effect {
        result_len: usize,
        dies_before_result: bool,
    },
    /// A gate opened, and perhaps decided in the next tick.
    Gate {
        decide: Option<bool>,
    },
    /// The process dies with a tick open: nothing of it may survive.
    DieMidTick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0usize..9_000, prop::bool::weighted(0.2)).prop_map(
            |(key, value_len, forbidden)| Op::Fact {
                key,
                value_len,
                forbidden
            }
        ),
        (0u8..6).prop_map(|key| Op::DropFact { key }),
        (0usize..12_000).prop_map(|len| Op::Note { len }),
        (0usize..12_000, prop::bool::weighted(0.2)).prop_map(|(result_len, dies_before_result)| {
            Op::Effect {
                result_len,
                dies_before_result,
            }
        }),
        prop::option::of(any::<bool>()).prop_map(|decide| Op::Gate { decide }),
        Just(Op::DieMidTick),
    ]
}

/// The rule: no fact may be named `forbidden`.
struct NoForbidden;

impl Rules for NoForbidden {
    fn check(&self, _: &TickToken, view: &View) -> std::result::Result<Vec<Violation>, String> {
        let facts = view.all_facts().map_err(|e| e.to_string())?;
        Ok(facts
            .iter()
            .filter(|f| f.key.starts_with("forbidden"))
            .map(|f| Violation {
                rule: "no-forbidden".into(),
                message: "a forbidden fact".into(),
                rows: vec![format!("fact:{}/{}", f.kind, f.key)],
            })
            .collect())
    }
}

fn text(seed: usize, len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i * 7 + seed) % 26) as u8))
        .collect()
}

/// Runs `ops` against a database file, reopening it after every simulated death.
fn record(path: &std::path::Path, ops: &[Op]) -> u64 {
    let mut store = Store::open(path, Durability::Normal).unwrap();
    let new = NewRun {
        title: "prop".into(),
        bundle_name: "t".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "h".into(),
        phase: "one".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    let rules = NoForbidden;
    for (i, op) in ops.iter().enumerate() {
        let token = store.next_token(run).unwrap();
        match op {
            Op::Fact {
                key,
                value_len,
                forbidden,
            } => {
                let name = if *forbidden {
                    format!("forbidden{key}")
                } else {
                    format!("k{key}")
                };
                let mut tick = store.begin(token).unwrap();
                tick.put_fact("item", &name, &text(i, *value_len)).unwrap();
                let committed = tick.commit(TickMeta::new(TickKind::Effect, "fact"), Some(&rules));
                // A refused tick is recorded as a violation, and the run stops; set it going.
                assert_eq!(committed.is_err(), *forbidden, "{committed:?}");
                if *forbidden {
                    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
                    tick.set_status(RunStatus::Running, None).unwrap();
                    tick.commit(TickMeta::new(TickKind::Resume, "resume"), None)
                        .unwrap();
                }
            }
            Op::DropFact { key } => {
                let mut tick = store.begin(token).unwrap();
                tick.drop_fact("item", &format!("k{key}")).unwrap();
                tick.commit(TickMeta::new(TickKind::Effect, "drop"), Some(&rules))
                    .unwrap();
            }
            Op::Note { len } => {
                let mut tick = store.begin(token).unwrap();
                tick.note(&text(i, *len));
                tick.commit(TickMeta::new(TickKind::Effect, "note"), Some(&rules))
                    .unwrap();
            }
            Op::Effect {
                result_len,
                dies_before_result,
            } => {
                let key = format!("e{i}");
                let intent = Intent {
                    key: &key,
                    step: "s",
                    kind: "agent",
                    retry_safe: true,
                    request: None,
                };
                let attempt = store.record_intent(&token, &intent).unwrap();
                if *dies_before_result {
                    drop(store);
                    store = Store::open(path, Durability::Normal).unwrap();
                    // The attempt that never finished stays an intent: a retry supersedes it.
                    let token = store.next_token(run).unwrap();
                    let retry = store.record_intent(&token, &intent).unwrap();
                    let mut tick = store.begin(token).unwrap();
                    tick.supersede(&key, attempt).unwrap();
                    let data = text(i, *result_len).into_bytes();
                    tick.record_result(&key, retry, Some(&data), "ok", "{}")
                        .unwrap();
                    tick.commit(
                        TickMeta::new(TickKind::Effect, "retried").step("s"),
                        Some(&rules),
                    )
                    .unwrap();
                    continue;
                }
                let mut tick = store.begin(token).unwrap();
                let data = text(i, *result_len).into_bytes();
                tick.record_result(&key, attempt, Some(&data), "ok", "{}")
                    .unwrap();
                tick.commit(
                    TickMeta::new(TickKind::Effect, "effect").step("s"),
                    Some(&rules),
                )
                .unwrap();
            }
            Op::Gate { decide } => {
                let mut tick = store.begin(token).unwrap();
                let gate = tick
                    .open_gate("g", Decider::Human, Risk::Low, &text(i, 100))
                    .unwrap();
                tick.commit(TickMeta::new(TickKind::GateOpen, "gate"), Some(&rules))
                    .unwrap();
                if let Some(approved) = decide {
                    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
                    tick.decide_gate(gate, *approved, Decider::Human, "ann", "cli", Some("ok"))
                        .unwrap();
                    tick.commit(TickMeta::new(TickKind::Decision, "decide"), Some(&rules))
                        .unwrap();
                }
            }
            Op::DieMidTick => {
                let mut tick = store.begin(token).unwrap();
                tick.put_fact("item", "dying", "never committed").unwrap();
                // The process dies: the open transaction goes with it.
                std::mem::forget(tick);
                drop(store);
                store = Store::open(path, Durability::Normal).unwrap();
                assert!(store.view(run).fact("item", "dying").unwrap().is_none());
            }
        }
    }
    run
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_run_verifies_replays_and_never_holds_what_its_rule_forbids(
        ops in prop::collection::vec(op(), 1..24)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loom.db");
        let run = record(&path, &ops);
        let store = Store::open_read_only(&path).unwrap();
        let ticks = store.ticks(run).unwrap();
        prop_assert!(verify_chain(&ticks).is_ok());
        // No committed state holds a forbidden fact.
        prop_assert!(store.facts(run).unwrap().iter().all(|f| !f.key.starts_with("forbidden")));
        let mut replay = Replay::new(&store, run).unwrap();
        let mut n = 0;
        while let Some(r) = replay.step(&[&NoForbidden]).unwrap() {
            prop_assert_eq!(first_difference(&r.recorded, &r.replayed), None);
            n += 1;
        }
        prop_assert_eq!(n, ticks.len());
        prop_assert_eq!(replay.scratch().facts(run).unwrap(), store.facts(run).unwrap());
    }
}
