//! `cargo bench -p loom-cli --bench flat [-- --far 100000 --rounds 7 --cycles 12 --dir DIR]`
//!
//! Whether a tick costs the same late in a long run as early in it. Two projects drive the
//! same run of the `testkit` bundle through the engine, with a scripted agent and a budget in
//! force: the near one at tick ~100, the far one at tick ~100,000 (its history written
//! beforehand through the kernel, tick for tick as the engine writes it: an agent's reply, the
//! gate it opens for a human, a rejection sending it back). Then, in interleaved rounds, each
//! is driven on by the same number of cycles (a rejection, an agent call, a new gate), and the
//! CPU each kind of tick cost is taken from the engine's own tick notifications.
//!
//! The `testkit` bundle reads the run's whole gate list each time it opens its gate
//! (`view.gates()`), which the far run has ~33,000 of: that read is the bundle's, not loom's, so
//! the gate-opening tick is reported on its own line and the effect and decision ticks, which
//! read nothing whole, are the measure of loom's own cost.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use loom_engine::{Engine, Observer};
use loom_kernel::{
    Decider, Durability, Intent, Risk, RunStatus, Store, TickKind, TickMeta, TickRow,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

#[path = "support/cpu.rs"]
mod cpu;
use cpu::thread_cpu_ns as cpu_ns;

/// The CPU each committed tick cost since the one before it, by kind.
#[derive(Default)]
struct Costs {
    last: u64,
    by_kind: BTreeMap<&'static str, Vec<u64>>,
}

struct Stamps(Rc<RefCell<Costs>>);

impl Observer for Stamps {
    fn tick(&mut self, row: &TickRow) {
        let now = cpu_ns();
        let mut c = self.0.borrow_mut();
        let spent = now.saturating_sub(c.last);
        c.last = now;
        c.by_kind.entry(row.kind.as_str()).or_default().push(spent);
    }
}

const CONFIG: &str = "durability = \"normal\"\n\
    default_chain = [\"scripted:replies.toml\"]\n\
    [budget]\nmax_usd = 1000000.0\nmax_tokens = 100000000000\n\
    [agents.worker]\nbudget_usd = 1000000.0\n";

/// A reply for each of `turns` (explicit turns: the file stays small however long the run).
fn replies(turns: impl Iterator<Item = u64>) -> String {
    let mut s = String::new();
    for t in turns {
        s.push_str(&format!(
            "[[reply]]\nrole = \"worker\"\nturn = {t}\ntext = \"done, turn {t}\"\n\
             input_tokens = 1200\noutput_tokens = 40\ncost_usd = 0.0001\n\n"
        ));
    }
    s
}

struct Project {
    costs: Rc<RefCell<Costs>>,
    engine: Engine,
    /// Ticks in the run so far.
    ticks: u64,
}

const NOTE: &str = "not yet, because the bench goes on";

/// A project whose run has about `ticks` ticks, waiting at its gate, ready for `more` cycles.
fn project(root: &Path, name: &str, ticks: u64, more: u64) -> Project {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("project dir");
    std::fs::write(dir.join("loom.toml"), CONFIG).expect("config");
    // Start: 3 ticks, turn 0. Each cycle: 3 ticks, one turn.
    let prefill = ticks.saturating_sub(3) / 3;
    let first = 1 + prefill;
    let turns = std::iter::once(0).chain(first..first + more + 2);
    std::fs::write(dir.join("replies.toml"), replies(turns)).expect("replies");
    loom_engine::project::init(&dir).expect("init");
    {
        let mut e = Engine::open(&dir, Box::new(loom_engine::Silent), "bench").expect("engine");
        let r = e
            .start("bench the flat tick", loom_guests::TESTKIT, None)
            .expect("start");
        assert_eq!(r.run.status, RunStatus::Waiting, "{:?}", r.run.stop_reason);
    }
    let db = loom_engine::project::db_path(&dir);
    let store = Store::open(&db, Durability::Normal).expect("store");
    let run = store.last_run(None).expect("run").expect("a run").id;
    for _ in 0..prefill {
        cycle(&store, run);
    }
    let ticks = store.run(run).expect("run").last_seq;
    drop(store);
    let costs = Rc::new(RefCell::new(Costs::default()));
    let engine =
        Engine::open(&dir, Box::new(Stamps(costs.clone())), "bench").expect("engine again");
    Project {
        costs,
        engine,
        ticks,
    }
}

/// One cycle written through the kernel as the engine writes it: the human rejects gate
/// `finish`, the worker is asked again and answers, the bundle opens `finish` again.
fn cycle(store: &Store, run: u64) {
    let gate = store
        .pending_gate(run, "finish")
        .expect("gate")
        .expect("finish is pending");
    let t = store.next_token(run).expect("token");
    let mut tick = store.begin(t).expect("begin");
    tick.decide_gate(gate.id, false, Decider::Human, "bench", "cli", Some(NOTE))
        .expect("decide");
    tick.drop_fact("result", "last").expect("drop");
    tick.note(&format!("rejected: {NOTE}"));
    tick.set_status(RunStatus::Running, None).expect("status");
    tick.commit(
        TickMeta::new(TickKind::Decision, "gate finish rejected by bench via cli")
            .step("finish")
            .decider("human"),
        None,
    )
    .expect("decision");

    let t = store.next_token(run).expect("token");
    // Start: ticks 1-3; cycle i: ticks 3i+1 (decision), 3i+2 (effect), 3i+3 (gate): the
    // i-th answer after the first, under the step's key number i + 1.
    let key = format!("r{run}/work#{}", t.seq / 3 + 1);
    let request = format!(
        "{{\"role\":\"worker\",\"template\":\"work\",\"prompt\":\"Do this: bench the flat tick\",\"chain\":[\"scripted:replies.toml\"],\"tick\":{}}}",
        t.seq
    );
    let attempt = store
        .record_intent(
            &t,
            &Intent {
                key: &key,
                step: "work",
                kind: "agent",
                retry_safe: true,
                request: Some(request.as_bytes()),
            },
        )
        .expect("intent");
    let reply = format!("done, turn {}", t.seq / 3);
    let outcome = serde_json::json!({"agent": {"text": reply, "touched": [], "diff_hash": null}});
    let meta = serde_json::json!({"role": "worker", "provider": "scripted", "model": "scripted",
        "input_tokens": 1200, "output_tokens": 40, "cost_usd": 0.0001, "cost_source": "provider",
        "latency_ms": 0, "attempts": [{"provider": "scripted", "model": "scripted", "outcome": "ok"}]});
    let mut tick = store.begin(t).expect("begin");
    tick.record_result(
        &key,
        attempt,
        Some(outcome.to_string().as_bytes()),
        "worker replied via scripted:scripted (1200 tokens in, 40 out)",
        &meta.to_string(),
    )
    .expect("result");
    tick.put_fact(
        "result",
        "last",
        &serde_json::to_string(&reply).expect("json"),
    )
    .expect("fact");
    tick.commit(
        TickMeta::new(TickKind::Effect, "work: worker replied").step("work"),
        None,
    )
    .expect("effect");

    let t = store.next_token(run).expect("token");
    let mut tick = store.begin(t).expect("begin");
    tick.open_gate(
        "finish",
        Decider::Human,
        Risk::Low,
        &format!("accept this result? {reply}"),
    )
    .expect("gate");
    tick.set_status(
        RunStatus::Waiting,
        Some("waiting for a human to decide gate finish"),
    )
    .expect("status");
    tick.commit(
        TickMeta::new(
            TickKind::GateOpen,
            "gate finish opened for a human to decide",
        )
        .step("finish")
        .decider("human"),
        None,
    )
    .expect("gate open");
}

/// Drives `p` through `n` cycles; the mean CPU per tick of each kind, in µs.
fn round(p: &mut Project, n: u64) -> BTreeMap<&'static str, f64> {
    p.costs.borrow_mut().by_kind.clear();
    p.costs.borrow_mut().last = cpu_ns();
    for _ in 0..n {
        let r = p
            .engine
            .decide("finish", false, Some(NOTE), "bench")
            .expect("decide");
        assert_eq!(r.run.status, RunStatus::Waiting, "{:?}", r.run.stop_reason);
    }
    p.ticks += 3 * n;
    p.costs
        .borrow()
        .by_kind
        .iter()
        .map(|(k, v)| (*k, v.iter().sum::<u64>() as f64 / v.len() as f64 / 1e3))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let far = arg("--far", 100_000);
    let rounds = arg("--rounds", 7);
    let cycles = arg("--cycles", 12);
    let base = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shm = Path::new("/dev/shm");
            if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            }
        });
    let root = base.join(format!("loom-flat-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("bench dir");
    let more = rounds * cycles;
    let t0 = Instant::now();
    let mut near = project(&root, "near", 100, more);
    let mut far_p = project(&root, "far", far, more);
    println!(
        "loom tick cost early and late in one run (testkit bundle, scripted agent, budget on, \
         durability normal, in {}); history written in {:.1} s",
        root.display(),
        t0.elapsed().as_secs_f64()
    );
    let (near_from, far_from) = (near.ticks, far_p.ticks);
    let mut samples: BTreeMap<&'static str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for _ in 0..rounds {
        for (k, v) in round(&mut near, cycles) {
            samples.entry(k).or_default().0.push(v);
        }
        for (k, v) in round(&mut far_p, cycles) {
            samples.entry(k).or_default().1.push(v);
        }
    }
    println!(
        "{rounds} interleaved rounds of {cycles} cycles; near run ticks {near_from}–{}, far run \
         ticks {far_from}–{}; CPU µs per tick, median of round means",
        near.ticks, far_p.ticks
    );
    println!(
        "{:<11} {:>12} {:>12} {:>8}   far/near per round",
        "tick", "near µs", "far µs", "far/near"
    );
    for kind in ["effect", "decision", "gate-open"] {
        let Some((n, f)) = samples.get(kind) else {
            continue;
        };
        let per_round: Vec<String> = n
            .iter()
            .zip(f)
            .map(|(a, b)| format!("{:.2}", b / a))
            .collect();
        let (mn, mf) = (median(n.clone()), median(f.clone()));
        let note = if kind == "gate-open" {
            "  (includes the bundle's own read of every gate)"
        } else {
            ""
        };
        println!(
            "{:<11} {:>12.1} {:>12.1} {:>7.3}x   {}{note}",
            kind,
            mn,
            mf,
            mf / mn,
            per_round.join(" ")
        );
    }
    println!("target: an effect tick at ~100,000 within 10% of one at ~100 (far/near ≤ 1.10)");
    drop(near);
    drop(far_p);
    let _ = std::fs::remove_dir_all(&root);
}
