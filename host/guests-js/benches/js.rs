//! `cargo bench -p loom-guests-js --bench js [-- --load-rounds N --cached-rounds N --tick-rounds N]`
//!
//! What a JavaScript (QuickJS) bundle costs, as medians: the JS SDK's example `hello` bundle
//! against the Rust SDK's `hello` (the same bundle in Rust), in the same process.
//!
//! - **first load**: a new runtime with an empty compile cache loads the component (wasmtime
//!   compiles it and writes the cache): what the first command on a machine pays;
//! - **cached load**: a new runtime loads it with the cache warm: what every later command pays;
//! - **per tick**: the calls one tick makes into the bundle, each in a fresh instance, on a
//!   run's state in SQLite: `next` (builds an agent call), `apply` (a writer's reply) and
//!   `check` (its rule).

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use loom_kernel::{Durability, NewRun, Store, TickKind, TickMeta, TickToken};
use loom_runtime::{AgentReply, Bundle, Limits, Outcome, Runtime};
use std::path::Path;
use std::time::Instant;

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

/// Per-call medians (ms) of `next`, `apply` and `check` on a run of `bundle` in `draft`.
fn per_tick(db: &Path, bundle: &Bundle, rounds: usize) -> [f64; 3] {
    // A store of its own: one project has one open task.
    let store = Store::open(db, Durability::Normal).expect("store");
    let m = bundle.manifest();
    let new = NewRun {
        title: "the loom team".into(),
        bundle_name: m.name.clone(),
        bundle_version: m.version.clone(),
        bundle_hash: bundle.hash().into(),
        phase: "draft".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).expect("run");
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .expect("start");
    let token = TickToken {
        run,
        seq: 2,
        unix_ms: 1_760_000_000_000,
    };
    let view = store.view(run);
    let outcome = Outcome::Agent(AgentReply {
        text: "Hello, loom team!".into(),
        touched: Vec::new(),
        diff_hash: None,
    });
    let (mut next, mut apply, mut check) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let n = 20;
        let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            a += ms(|| drop(bundle.next(&token, &view).expect("next")));
            b += ms(|| {
                bundle
                    .apply(&token, &view, "draft", &outcome)
                    .expect("apply")
                    .expect("accepted");
            });
            c += ms(|| drop(bundle.check_rules(&token, &view).expect("check")));
        }
        next.push(a / f64::from(n));
        apply.push(b / f64::from(n));
        check.push(c / f64::from(n));
    }
    [median(next), median(apply), median(check)]
}

fn main() {
    let (load_rounds, cached_rounds, tick_rounds) = (
        arg("--load-rounds", 3),
        arg("--cached-rounds", 15),
        arg("--tick-rounds", 15),
    );
    let path = loom_guests_js::hello().unwrap_or_else(|why| {
        eprintln!("{why}");
        std::process::exit(1)
    });
    let js_wasm = std::fs::read(path).expect("read the JS hello bundle");
    let rs_wasm = loom_guests::HELLO;
    let tmp = tempfile::tempdir().expect("tempdir");
    println!(
        "JavaScript `hello` bundle {:.2} MB, Rust `hello` bundle {:.2} MB",
        js_wasm.len() as f64 / 1e6,
        rs_wasm.len() as f64 / 1e6
    );
    let (mut js_first, mut rs_first) = (Vec::new(), Vec::new());
    for round in 0..load_rounds {
        js_first.push(ms(|| {
            drop(load(&js_wasm, &tmp.path().join(format!("js{round}"))))
        }));
        rs_first.push(ms(|| {
            drop(load(rs_wasm, &tmp.path().join(format!("rs{round}"))))
        }));
    }
    let (warm_js, warm_rs) = (tmp.path().join("js0"), tmp.path().join("rs0"));
    let (mut js_cached, mut rs_cached) = (Vec::new(), Vec::new());
    for _ in 0..cached_rounds {
        js_cached.push(ms(|| drop(load(&js_wasm, &warm_js))));
        rs_cached.push(ms(|| drop(load(rs_wasm, &warm_rs))));
    }
    println!("load, median of rounds     JavaScript      Rust");
    println!(
        "first (compile)      {:>12.1} ms {:>8.1} ms   ({load_rounds} rounds)",
        median(js_first),
        median(rs_first)
    );
    println!(
        "cached               {:>12.2} ms {:>8.2} ms   ({cached_rounds} rounds)",
        median(js_cached),
        median(rs_cached)
    );

    let js = per_tick(
        &tmp.path().join("js.db"),
        &load(&js_wasm, &warm_js),
        tick_rounds,
    );
    let rs = per_tick(
        &tmp.path().join("rs.db"),
        &load(rs_wasm, &warm_rs),
        tick_rounds,
    );
    println!("per tick, median of {tick_rounds} rounds of 20   JavaScript      Rust");
    for (i, call) in ["next", "apply", "check"].iter().enumerate() {
        println!("{call:<20} {:>12.3} ms {:>8.3} ms", js[i], rs[i]);
    }
    println!(
        "next + apply + check {:>12.3} ms {:>8.3} ms",
        js.iter().sum::<f64>(),
        rs.iter().sum::<f64>()
    );
}
