//! `cargo bench -p loom-guests-py --bench python [-- --load-rounds N --cached-rounds N --tick-rounds N]`
//!
//! What an interpreted (Python) bundle costs, against the Rust `code` bundle in the same
//! process, in interleaved rounds, as medians:
//!
//! - **first load**: a new runtime with an empty compile cache loads the component (wasmtime
//!   compiles it and writes the cache): what the first command on a machine pays;
//! - **cached load**: a new runtime loads it with the cache warm: what every later command
//!   (`run`, `resume`, `replay`, `bundle check`) pays at start;
//! - **per tick**: the calls one tick makes into the bundle, each in a fresh instance, on a run's
//!   state in SQLite: `next`, `apply` (an agent's reply) and `check` (the rules).

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use loom_kernel::{Durability, NewRun, Store, TickKind, TickMeta, TickToken};
use loom_runtime::{AgentReply, Bundle, Limits, Outcome, Runtime};
use std::path::Path;
use std::time::Instant;

const DIAGNOSIS: &str = r#"{"cause": "the 14:02 deploy exhausts the connection pool", "plan": ["rollback", "restart"]}"#;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn load(wasm: &[u8], cache: &Path) -> Bundle {
    let rt = Runtime::new(Limits::default(), Some(cache.to_path_buf())).expect("runtime");
    rt.load_bundle(wasm).expect("load")
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// A run of `bundle` in `store` in `phase`, with `facts` written: the state a tick reads.
fn run_in(store: &Store, bundle: &Bundle, phase: &str, facts: &[(&str, &str, &str)]) -> u64 {
    let m = bundle.manifest();
    let new = NewRun {
        title: "Checkout returns HTTP 500 since the 14:02 deploy".into(),
        bundle_name: m.name.clone(),
        bundle_version: m.version.clone(),
        bundle_hash: bundle.hash().into(),
        phase: phase.into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let mut tick = store.begin_run(&new, None).expect("run");
    let run = tick.token().run;
    for (kind, key, value) in facts {
        tick.put_fact(kind, key, value).expect("fact");
    }
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .expect("start");
    run
}

struct TickCost {
    next_ms: Vec<f64>,
    apply_ms: Vec<f64>,
    check_ms: Vec<f64>,
}

fn tick_round(store: &Store, bundle: &Bundle, run: u64, n: usize, apply: bool, out: &mut TickCost) {
    let token = TickToken {
        run,
        seq: 2,
        unix_ms: 1_760_000_000_000,
    };
    let view = store.view(run);
    let outcome = Outcome::Agent(AgentReply {
        text: DIAGNOSIS.into(),
        touched: Vec::new(),
        diff_hash: None,
    });
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    for _ in 0..n {
        a += ms(|| {
            bundle.next(&token, &view).expect("next");
        });
        if apply {
            b += ms(|| {
                bundle
                    .apply(&token, &view, "diagnose", &outcome)
                    .expect("apply")
                    .expect("accepted");
            });
        }
        c += ms(|| {
            bundle.check_rules(&token, &view).expect("check");
        });
    }
    let n = n as f64;
    out.next_ms.push(a / n);
    out.apply_ms.push(b / n);
    out.check_ms.push(c / n);
}

fn main() {
    let (load_rounds, cached_rounds, tick_rounds) = (
        arg("--load-rounds", 3),
        arg("--cached-rounds", 15),
        arg("--tick-rounds", 15),
    );
    let python = loom_guests_py::incident().unwrap_or_else(|why| {
        eprintln!("{why}");
        std::process::exit(1)
    });
    let py_wasm = std::fs::read(python).expect("read the incident bundle");
    let rust_wasm = loom_guests::CODE_BUNDLE;
    let tmp = tempfile::tempdir().expect("tempdir");
    println!(
        "Python `incident` bundle {:.1} MB, Rust `code` bundle {:.2} MB",
        py_wasm.len() as f64 / 1e6,
        rust_wasm.len() as f64 / 1e6
    );

    let (mut py_first, mut rs_first) = (Vec::new(), Vec::new());
    for round in 0..load_rounds {
        let (p, r) = (
            tmp.path().join(format!("py{round}")),
            tmp.path().join(format!("rs{round}")),
        );
        py_first.push(ms(|| drop(load(&py_wasm, &p))));
        rs_first.push(ms(|| drop(load(rust_wasm, &r))));
    }
    let rss = peak_rss_mib();
    let (warm_py, warm_rs) = (tmp.path().join("py0"), tmp.path().join("rs0"));
    let (mut py_cached, mut rs_cached) = (Vec::new(), Vec::new());
    for _ in 0..cached_rounds {
        py_cached.push(ms(|| drop(load(&py_wasm, &warm_py))));
        rs_cached.push(ms(|| drop(load(rust_wasm, &warm_rs))));
    }
    let (fp, fr) = (median(py_first), median(rs_first));
    let (cp, cr) = (median(py_cached), median(rs_cached));
    println!("load, median of rounds     Python         Rust       ratio");
    println!("first (compile)      {fp:>10.0} ms {fr:>9.1} ms {:>9.0}x   ({load_rounds} rounds; peak RSS {rss:.0} MiB)", fp / fr);
    println!(
        "cached               {cp:>10.1} ms {cr:>9.2} ms {:>9.0}x   ({cached_rounds} rounds)",
        cp / cr
    );

    // Per tick: the incident bundle in `diagnose` (next builds the diagnosis prompt's arguments,
    // apply parses a reply, check runs its four rules), the code bundle at its start.
    // A store each: one project has one open task.
    let py_store = Store::open(&tmp.path().join("py.db"), Durability::Normal).expect("store");
    let rs_store = Store::open(&tmp.path().join("rs.db"), Durability::Normal).expect("store");
    let py = load(&py_wasm, &warm_py);
    let rs = load(rust_wasm, &warm_rs);
    let py_run = run_in(
        &py_store,
        &py,
        "diagnose",
        &[
            (
                "triage",
                "summary",
                r#"{"impact":"a third of checkouts fail","service":"checkout","severity":"sev1"}"#,
            ),
            ("round", "current", r#"{"n":1,"ran":0}"#),
        ],
    );
    let rs_run = run_in(&rs_store, &rs, &rs.manifest().phases[0].clone(), &[]);
    let zero = || TickCost {
        next_ms: Vec::new(),
        apply_ms: Vec::new(),
        check_ms: Vec::new(),
    };
    let (mut p, mut r) = (zero(), zero());
    for _ in 0..tick_rounds {
        tick_round(&py_store, &py, py_run, 20, true, &mut p);
        tick_round(&rs_store, &rs, rs_run, 20, false, &mut r);
    }
    let (pn, pa, pc) = (median(p.next_ms), median(p.apply_ms), median(p.check_ms));
    let (rn, rc) = (median(r.next_ms), median(r.check_ms));
    println!("per tick, median of {tick_rounds} rounds of 20   Python         Rust       ratio");
    println!(
        "next                 {:>10.3} ms {:>9.3} ms {:>9.0}x",
        pn,
        rn,
        pn / rn
    );
    println!("apply                {:>10.3} ms", pa);
    println!(
        "check                {:>10.3} ms {:>9.3} ms {:>9.0}x",
        pc,
        rc,
        pc / rc
    );
    println!("next + apply + check {:>10.3} ms", pn + pa + pc);
}
