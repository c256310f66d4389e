//! Hostile guests end in a clean error naming the bundle, and the runtime keeps working.

use crate::support::{runtime, testkit, Run, TestResult};
use loom_kernel::Rules;
use loom_runtime::{Bundle, Limits, NextStep, Runtime, RuntimeError};
use std::time::{Duration, Instant};

/// Calls `next` and `check` in a run titled `title`; both must fail. Then a good call on the
/// same bundle and runtime must still work.
fn both_fail(
    bundle: &Bundle,
    title: &str,
) -> Result<(RuntimeError, String), Box<dyn std::error::Error>> {
    let run = Run::start(title)?;
    let err = match bundle.next(&run.token()?, &run.view()) {
        Err(e) => e,
        Ok(step) => panic!("{title}: next returned {step:?}"),
    };
    let check = match bundle.check(&run.token()?, &run.view()) {
        Err(e) => e,
        Ok(v) => panic!("{title}: check returned {v:?}"),
    };
    let good = Run::start("behave")?;
    assert!(
        matches!(
            bundle.next(&good.token()?, &good.view())?,
            NextStep::Effect(_)
        ),
        "{title}: good call after"
    );
    Ok((err, check))
}

#[test]
fn a_loop_runs_out_of_fuel_quickly() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let start = Instant::now();
    let (err, check) = both_fail(&bundle, "hostile:loop")?;
    // Two endless calls plus setup, each stopped by fuel.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(
            err,
            RuntimeError::OutOfFuel {
                call: "logic.next",
                ..
            }
        ),
        "{err:?}"
    );
    let limit = rt.limits().fuel_per_call;
    assert_eq!(
        err.to_string(),
        format!("bundle testkit@0.1.0 ran out of fuel (limit {limit}) in logic.next: it may loop forever")
    );
    assert!(
        check.contains("ran out of fuel") && check.contains("rules.check"),
        "{check}"
    );
    Ok(())
}

#[test]
fn hoarding_memory_hits_the_cap() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let (err, check) = both_fail(&bundle, "hostile:memory")?;
    assert!(matches!(err, RuntimeError::OutOfMemory { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("bundle testkit@0.1.0 ran out of memory (limit 67108864 bytes)"),
        "{err}"
    );
    assert!(check.contains("ran out of memory"), "{check}");
    Ok(())
}

#[test]
fn a_panic_is_a_trap() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let (err, check) = both_fail(&bundle, "hostile:trap")?;
    println!("panic: {err}");
    assert!(
        err.to_string().starts_with("bundle testkit@0.1.0 "),
        "{err}"
    );
    assert!(err.to_string().contains("panic"), "{err}");
    assert!(check.contains("panic"), "{check}");
    Ok(())
}

#[test]
fn wasi_calls_trap_naming_the_import() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let (err, check) = both_fail(&bundle, "hostile:wasi")?;
    println!("wasi: {err}");
    let RuntimeError::Denied { import, call, .. } = &err else {
        panic!("expected Denied, got {err:?}");
    };
    assert!(
        import.starts_with("wasi:clocks/wall-clock@0.2") && import.ends_with("#now"),
        "{import}"
    );
    assert_eq!(*call, "logic.next");
    assert!(err.to_string().contains(&format!(
        "called {import} in logic.next, which loom does not grant"
    )));
    assert!(check.contains("wasi:clocks/wall-clock"), "{check}");
    Ok(())
}

#[test]
fn fuel_runs_out_at_the_same_point_every_time() -> TestResult {
    // Enough for instantiation and `manifest` (about 11 thousand, no host calls), too little
    // for `next`, which makes several view calls at 5 thousand fuel each.
    let limits = Limits {
        fuel_per_call: 15_000,
        ..Limits::default()
    };
    let rt = Runtime::new(limits, None)?;
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let run = Run::start("behave")?;
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(
            bundle
                .next(&run.token()?, &run.view())
                .err()
                .map(|e| e.to_string()),
        );
    }
    let first = errors[0].clone().unwrap_or_default();
    assert!(
        first.contains("ran out of fuel (limit 15000) in logic.next"),
        "{first}"
    );
    assert!(
        errors.iter().all(|e| e.as_deref() == Some(first.as_str())),
        "{errors:?}"
    );
    Ok(())
}
