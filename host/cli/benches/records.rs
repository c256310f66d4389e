//! `cargo bench -p loom-cli --bench records [-- --runs 10000 --replay-runs 1000 --rounds 7 --dir DIR]`
//!
//! Reading the record of a project that has been used for a long time:
//!
//! - **status and log at scale**: a project of 10,000 finished runs (written through the
//!   kernel: a start, an agent's answer, a gate and its decision, a finish, a violation now
//!   and then); `loom status` (opening the database read-only and reading the status, as the
//!   command does) and one page of `loom log --since S --limit 50` of an old run and of the
//!   newest.
//! - **replay**: runs of the `testkit` bundle recorded by the engine (a scripted agent, a human
//!   rejecting its answers, then approving): re-deriving a 1,000-tick run from its change list,
//!   re-executing it with its bundle (the bundle's load timed on its own), and
//!   `loom replay --all --invariants human-gates.wasm` over 1,000 runs of 50 ticks.
//!
//! Each figure is the median of `--rounds` timings, interleaved.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use loom_engine::replay::{replay, ReplayOptions, Runs};
use loom_engine::{reads, Engine, Silent};
use loom_kernel::{
    Decider, Durability, Intent, NewRun, Risk, RunStatus, Store, TickKind, TickMeta,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2} [{min:.2}–{max:.2}]", median(v.to_vec()))
}

/// Wall milliseconds of `f`.
fn ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

/// `n` finished runs of five or six ticks each, written through the kernel.
fn many_runs(db: &Path, n: u64) {
    let store = Store::open(db, Durability::Normal).expect("store");
    for i in 0..n {
        let new = NewRun {
            title: format!("task {i}: fix the thing"),
            bundle_name: "code".into(),
            bundle_version: "0.1.0".into(),
            bundle_hash: "h".repeat(64),
            phase: "plan".into(),
            settings: "{}".into(),
            options: "{\"provider\":null,\"format\":3}".into(),
        };
        let tick = store.begin_run(&new, None).expect("run");
        let run = tick.token().run;
        tick.commit(TickMeta::new(TickKind::Start, "task started"), None)
            .expect("start");
        let t = store.next_token(run).expect("token");
        let key = format!("r{run}/plan#1");
        let intent = Intent {
            key: &key,
            step: "plan",
            kind: "agent",
            retry_safe: true,
            request: Some(b"{\"role\":\"planner\",\"prompt\":\"plan it\"}"),
        };
        let a = store.record_intent(&t, &intent).expect("intent");
        let mut tick = store.begin(t).expect("begin");
        let meta =
            "{\"role\":\"planner\",\"cost_usd\":0.002,\"input_tokens\":900,\"output_tokens\":120}";
        tick.record_result(
            &key,
            a,
            Some(b"{\"agent\":{\"text\":\"1. fix it\",\"touched\":[],\"diff_hash\":null}}"),
            "planner replied",
            meta,
        )
        .expect("result");
        tick.put_fact("plan", "text", "\"1. fix it\"")
            .expect("fact");
        tick.commit(
            TickMeta::new(TickKind::Effect, "plan: planner replied").step("plan"),
            None,
        )
        .expect("effect");
        let t = store.next_token(run).expect("token");
        let mut tick = store.begin(t).expect("begin");
        let gate = tick
            .open_gate("plan", Decider::Human, Risk::Medium, "approve the plan?")
            .expect("gate");
        tick.set_status(RunStatus::Waiting, Some("waiting for a human"))
            .expect("status");
        tick.commit(TickMeta::new(TickKind::GateOpen, "gate plan opened"), None)
            .expect("gate tick");
        let t = store.next_token(run).expect("token");
        let mut tick = store.begin(t).expect("begin");
        tick.decide_gate(gate, true, Decider::Human, "ann", "cli", None)
            .expect("decide");
        tick.set_status(RunStatus::Running, None).expect("status");
        tick.commit(
            TickMeta::new(TickKind::Decision, "gate plan approved"),
            None,
        )
        .expect("decision");
        if i % 10 == 0 {
            let t = store.next_token(run).expect("token");
            let mut tick = store.begin(t).expect("begin");
            tick.put_fact("finding", "f1", "\"blocking\"")
                .expect("fact");
            struct No;
            impl loom_kernel::Rules for No {
                fn check(
                    &self,
                    _: &loom_kernel::TickToken,
                    _: &loom_kernel::View,
                ) -> Result<Vec<loom_kernel::Violation>, String> {
                    Ok(vec![loom_kernel::Violation {
                        rule: "no-blocking".into(),
                        message: "a blocking finding is open".into(),
                        rows: vec!["fact:finding/f1".into()],
                    }])
                }
            }
            let _ = tick.commit(TickMeta::new(TickKind::Effect, "review"), Some(&No));
            let t = store.next_token(run).expect("token");
            let mut tick = store.begin(t).expect("begin");
            tick.set_status(RunStatus::Running, None).expect("status");
            tick.commit(TickMeta::new(TickKind::Resume, "resumed"), None)
                .expect("resume");
        }
        let t = store.next_token(run).expect("token");
        let mut tick = store.begin(t).expect("begin");
        tick.set_status(RunStatus::Done, None).expect("status");
        tick.commit(TickMeta::new(TickKind::Finish, "run done"), None)
            .expect("finish");
    }
}

const NOTE: &str = "not yet, because the bench wants another round";

/// A project for `testkit` runs with scripted replies for turns `0..turns`.
fn testkit_project(dir: &Path, turns: u64) {
    std::fs::create_dir_all(dir).expect("dir");
    let mut replies = String::new();
    for t in 0..turns {
        replies.push_str(&format!(
            "[[reply]]\nrole = \"worker\"\nturn = {t}\ntext = \"answer {t}\"\ninput_tokens = 300\n\
             output_tokens = 20\ncost_usd = 0.0001\n\n"
        ));
    }
    std::fs::write(dir.join("replies.toml"), replies).expect("replies");
    std::fs::write(
        dir.join("loom.toml"),
        "durability = \"normal\"\nmax_ticks = 100000\ndefault_chain = [\"scripted:replies.toml\"]\n\
         [budget]\nmax_usd = 1000.0\n",
    )
    .expect("config");
    loom_engine::project::init(dir).expect("init");
}

/// One `testkit` run of about `ticks` ticks (a multiple of three, plus two), recorded by the
/// engine: each rejection costs three ticks (decision, answer, gate), the approval two.
fn testkit_run(e: &mut Engine, ticks: u64) {
    let r = e
        .start("bench the record", loom_guests::TESTKIT, None)
        .expect("start");
    assert_eq!(r.run.status, RunStatus::Waiting, "{:?}", r.run.stop_reason);
    for _ in 0..ticks.saturating_sub(5) / 3 {
        e.decide("finish", false, Some(NOTE), "ann")
            .expect("reject");
    }
    let r = e.decide("finish", true, None, "ann").expect("approve");
    assert_eq!(r.run.status, RunStatus::Done, "{:?}", r.run.stop_reason);
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = arg(&args, "--runs", 10_000);
    let replay_runs = arg(&args, "--replay-runs", 1_000);
    let rounds = arg(&args, "--rounds", 7).max(1);
    let base = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let root = base.join(format!("loom-records-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("bench dir");

    // Status and log of a project with many finished runs.
    let many = root.join("many.db");
    let t = ms(|| many_runs(&many, runs));
    println!(
        "records: {runs} finished runs written in {:.1} s ({})",
        t / 1e3,
        root.display()
    );
    let (mut status_open, mut status_only, mut log_old, mut log_new) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let reader = Store::open_read_only(&many).expect("read-only");
    for _ in 0..rounds {
        status_open.push(ms(|| {
            let s = Store::open_read_only(&many).expect("open");
            let st = reads::status(&s).expect("status");
            assert!(st.run.is_some());
        }));
        status_only.push(ms(|| {
            reads::status(&reader).expect("status");
        }));
        log_old.push(ms(|| {
            let page = reads::log_page(&reader, 1, 0, 50).expect("log");
            assert!(!page.is_empty());
        }));
        log_new.push(ms(|| {
            let page = reads::log_page(&reader, runs, 2, 50).expect("log");
            assert!(!page.is_empty());
        }));
    }
    println!("ms, median of {rounds} [min–max]");
    println!(
        "  status (open read-only + read):      {}   target ≤ 10 ms",
        spread(&status_open)
    );
    println!(
        "  status (read, connection open):      {}",
        spread(&status_only)
    );
    println!(
        "  log page of run #1 (50 ticks):       {}",
        spread(&log_old)
    );
    println!(
        "  log page of run #{runs} (from seq 2):  {}",
        spread(&log_new)
    );

    // Replay: one run of ~1,000 ticks, and many runs of 50.
    let long_dir = root.join("long");
    testkit_project(&long_dir, 400);
    let all_dir = root.join("all");
    testkit_project(&all_dir, 20);
    let t = ms(|| {
        let mut e = Engine::open(&long_dir, Box::new(Silent), "bench").expect("engine");
        testkit_run(&mut e, 1_001);
    });
    let t2 = ms(|| {
        let mut e = Engine::open(&all_dir, Box::new(Silent), "bench").expect("engine");
        for _ in 0..replay_runs {
            testkit_run(&mut e, 50);
        }
    });
    println!(
        "replay: a run of 1,001 ticks recorded in {:.1} s, {replay_runs} runs of 50 in {:.1} s",
        t / 1e3,
        t2 / 1e3
    );
    let long_db = loom_engine::project::db_path(&long_dir);
    let all_db = loom_engine::project::db_path(&all_dir);
    let rules = loom_guests::HUMAN_GATES.to_vec();
    let opts = |only: bool, invariants: Option<Vec<u8>>, root: &Path| ReplayOptions {
        invariants,
        only,
        root: Some(root.to_path_buf()),
        ..ReplayOptions::default()
    };
    let ticks = Store::open_read_only(&long_db)
        .expect("db")
        .ticks(1)
        .expect("ticks")
        .len() as f64;
    // Warm the project's compiled-bundle cache, as any replay after the run has it.
    replay(&long_db, Runs::One(1), &opts(false, None, &long_dir)).expect("warm");
    let (mut derive, mut exec, mut load, mut all, mut all_one) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 0..rounds {
        let d = ms(|| {
            let r = replay(&long_db, Runs::One(1), &opts(true, None, &long_dir)).expect("derive");
            assert!(r[0].identical);
        });
        let full = ms(|| {
            let r = replay(&long_db, Runs::One(1), &opts(false, None, &long_dir)).expect("replay");
            assert!(r[0].identical, "{:?}", r[0].divergence);
        });
        let l = ms(|| {
            let cache = long_dir.join(".loom").join("cache");
            let rt = loom_runtime::Runtime::new(loom_runtime::Limits::default(), Some(cache))
                .expect("runtime");
            rt.load_bundle(loom_guests::TESTKIT).expect("load");
        });
        let a = ms(|| {
            let r = replay(
                &all_db,
                Runs::All { since: None },
                &opts(false, Some(rules.clone()), &all_dir),
            )
            .expect("replay --all");
            assert_eq!(r.len() as u64, replay_runs);
            assert!(r.iter().all(|x| x.identical), "every run reproduces");
        });
        // The same with one run at a time (`--jobs 1`).
        let one = ms(|| {
            let o = ReplayOptions {
                jobs: Some(1),
                ..opts(false, Some(rules.clone()), &all_dir)
            };
            let r = replay(&all_db, Runs::All { since: None }, &o).expect("replay --all -j1");
            assert_eq!(r.len() as u64, replay_runs);
            assert!(r.iter().all(|x| x.identical), "every run reproduces");
        });
        all_one.push(one);
        derive.push(d);
        exec.push(full - d - l);
        load.push(l);
        all.push(a);
    }
    let per_s = |v: &[f64]| ticks / (median(v.to_vec()) / 1e3);
    println!("ms, median of {rounds} [min–max]");
    println!(
        "  re-derive the {ticks}-tick run:             {}  = {:.0} ticks/s   target ≥ 50,000",
        spread(&derive),
        per_s(&derive)
    );
    println!(
        "  re-execute it, bundle load excluded:   {}  = {:.0} ticks/s   target ≥ 20,000 (≤ 50 ms)",
        spread(&exec),
        per_s(&exec)
    );
    println!("  bundle load (runtime + cached bundle): {}", spread(&load));
    println!(
        "  replay --all --invariants human-gates, {replay_runs} runs of 50 ticks: {}   target ≤ 2,000 ms",
        spread(&all)
    );
    println!(
        "    the same, one run at a time (--jobs 1):                  {}   ({:.2}x on {cores} cores)",
        spread(&all_one),
        median(all_one.clone()) / median(all.clone())
    );
    let _ = std::fs::remove_dir_all(&root);
}
