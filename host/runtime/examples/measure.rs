//! Measures what a bundle call costs: `cargo run --release -p loom-runtime --example measure`.
//!
//! Prints the time of a `check()` (fresh instance + view reads against an in-memory run), of
//! `next()`, the fuel each needs, and how long an endless loop takes to exhaust the default
//! fuel budget. Not a test: timings depend on the machine.

use loom_kernel::{NewRun, Rules, Store, TickKind, TickMeta};
use loom_runtime::{Limits, Runtime};
use std::time::Instant;

type Res = Result<(), Box<dyn std::error::Error>>;

fn run_store(title: &str) -> Result<(Store, u64), loom_kernel::KernelError> {
    let store = Store::open_in_memory()?;
    let new = NewRun {
        title: title.into(),
        bundle_name: "testkit".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "0".repeat(64),
        phase: "work".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None)?;
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)?;
    let mut tick = store.begin(store.next_token(run)?)?;
    for i in 0..5 {
        tick.put_fact("result", &format!("k{i}"), "\"fine\"")?;
    }
    tick.commit(TickMeta::new(TickKind::Effect, "seed"), None)?;
    Ok((store, run))
}

/// The least fuel with which `f` succeeds, by bisection.
fn min_fuel(f: impl Fn(&Runtime) -> bool) -> Result<u64, Box<dyn std::error::Error>> {
    let (mut lo, mut hi) = (1u64, 50_000_000u64);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let rt = Runtime::new(
            Limits {
                fuel_per_call: mid,
                ..Limits::default()
            },
            None,
        )?;
        if f(&rt) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

fn main() -> Res {
    let rt = Runtime::new(Limits::default(), None)?;
    let t = Instant::now();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    println!("load (compile + manifest): {:?}", t.elapsed());
    let (store, run) = run_store("measure")?;
    let view = store.view(run);
    let token = store.next_token(run)?;

    for (name, n) in [("check", 20_000u32), ("next", 20_000)] {
        for _ in 0..1000 {
            let _ = bundle.check(&token, &view);
        }
        let t = Instant::now();
        for _ in 0..n {
            if name == "check" {
                bundle.check(&token, &view)?;
            } else {
                bundle.next(&token, &view)?;
            }
        }
        println!(
            "{name}(): {:.1} µs per call",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }

    let wasm = loom_guests::TESTKIT;
    let fuel_check = min_fuel(|rt| {
        rt.load_invariants(wasm)
            .is_ok_and(|inv| inv.check(&token, &view).is_ok())
    })?;
    println!("fuel for instantiate + check() (5 facts, 2 view calls): {fuel_check}");
    let fuel_manifest = min_fuel(|rt| rt.load_bundle(wasm).is_ok())?;
    println!("fuel for instantiate + manifest(): {fuel_manifest}");

    let (store, run) = run_store("hostile:loop")?;
    let t = Instant::now();
    let err = bundle.next(&store.next_token(run)?, &store.view(run)).err();
    println!(
        "endless loop stopped after {:?}: {}",
        t.elapsed(),
        err.map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}
