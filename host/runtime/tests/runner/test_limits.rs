//! Bundles that hand back too much: each is a fault naming the limit, the bundle and the size,
//! the call's result is dropped, and the runtime keeps working.

use crate::support::{runtime, testkit, Run, TestResult};
use loom_kernel::{KernelError, TickKind, TickMeta};
use loom_runtime::limits::{CHANGES_PER_TICK_MAX, FACTS_PER_RUN_MAX};
use loom_runtime::{AgentReply, Bundle, Change, NextStep, Outcome, RuntimeError};

fn reply() -> Outcome {
    Outcome::Agent(AgentReply {
        text: "done".into(),
        touched: vec![],
        diff_hash: None,
    })
}

/// The limit, its value and what the bundle produced, from a `Limit` fault.
fn limit_of(err: &RuntimeError) -> (&'static str, &'static str, u64, u64) {
    match err {
        RuntimeError::Limit {
            call,
            limit,
            max,
            found,
            ..
        } => (call, limit, *max, *found),
        other => panic!("expected a limit fault, got {other:?}"),
    }
}

/// The same bundle still answers a well-behaved run.
fn still_works(bundle: &Bundle) -> TestResult {
    let good = Run::start("behave")?;
    assert!(matches!(
        bundle.next(&good.token()?, &good.view())?,
        NextStep::Effect(_)
    ));
    Ok(())
}

#[test]
fn a_50_mb_finish_text_is_a_fault_naming_the_limit() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("hostile:big-finish")?;
    let err = match bundle.next(&run.token()?, &run.view()) {
        Err(e) => e,
        Ok(step) => panic!("next returned {} bytes", format!("{step:?}").len()),
    };
    assert_eq!(
        limit_of(&err),
        ("logic.next", "FINISH_TEXT_BYTES_MAX", 65_536, 50_000_000)
    );
    assert_eq!(
        err.to_string(),
        "bundle testkit@0.1.0 went over FINISH_TEXT_BYTES_MAX in logic.next: its finish text \
         is 50000000 bytes, and the limit is 65536 bytes"
    );
    still_works(&bundle)
}

#[test]
fn a_huge_note_is_a_fault() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("hostile:big-note")?;
    let err = bundle
        .apply(&run.token()?, &run.view(), "work", &reply())
        .err()
        .map(|e| (limit_of(&e), e.to_string()));
    let Some((limit, msg)) = err else {
        panic!("apply accepted a 45 MB note");
    };
    assert_eq!(limit, ("logic.apply", "NOTE_BYTES_MAX", 65_536, 45_000_000));
    assert!(
        msg.contains("change 1 of 1 (a note) is 45000000 bytes"),
        "{msg}"
    );
    still_works(&bundle)
}

#[test]
fn too_many_changes_in_one_tick_is_a_fault() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("hostile:many-changes")?;
    let err = bundle
        .apply(&run.token()?, &run.view(), "work", &reply())
        .err();
    let Some(err) = err else {
        panic!("apply accepted 1,001 changes");
    };
    assert_eq!(
        limit_of(&err),
        (
            "logic.apply",
            "CHANGES_PER_TICK_MAX",
            CHANGES_PER_TICK_MAX as u64,
            1_001
        )
    );
    still_works(&bundle)
}

/// 1,000 new facts a tick: ten ticks fill the run up to the limit, the eleventh goes over.
#[test]
fn too_many_facts_in_a_run_is_a_fault() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("hostile:many-facts")?;
    for _ in 0..10 {
        let mut tick = run.store.begin(run.token()?)?;
        let changes = bundle.apply(&tick.token(), &tick.view(), "work", &reply())??;
        for c in changes {
            if let Change::PutFact { kind, key, value } = c {
                tick.put_fact(&kind, &key, &value)?;
            }
        }
        tick.commit(TickMeta::new(TickKind::Effect, "work"), None)?;
    }
    assert_eq!(run.view().fact_count()?, FACTS_PER_RUN_MAX);
    let tick = run.store.begin(run.token()?)?;
    let err = bundle
        .apply(&tick.token(), &tick.view(), "work", &reply())
        .err();
    let Some(err) = err else {
        panic!("apply took the run past {FACTS_PER_RUN_MAX} facts");
    };
    assert_eq!(
        limit_of(&err),
        (
            "logic.apply",
            "FACTS_PER_RUN_MAX",
            FACTS_PER_RUN_MAX,
            11_000
        )
    );
    assert!(err.to_string().contains("11000 facts"), "{err}");
    Ok(())
}

#[test]
fn too_many_violations_roll_the_tick_back_as_a_rules_fault() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("hostile:many-violations")?;
    let err = bundle.check_rules(&run.token()?, &run.view()).err();
    let Some(err) = err else {
        panic!("check returned 101 violations");
    };
    assert_eq!(
        limit_of(&err),
        ("rules.check", "VIOLATIONS_PER_CHECK_MAX", 100, 101)
    );
    // At commit, that is a rules fault: nothing is written, no violation recorded.
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact("result", "last", "\"fine\"")?;
    let refused = tick.commit(TickMeta::new(TickKind::Effect, "work"), Some(&bundle));
    let Err(KernelError::Rules(msg)) = refused else {
        panic!("expected a rules fault, got {refused:?}");
    };
    assert!(msg.contains("VIOLATIONS_PER_CHECK_MAX"), "{msg}");
    assert!(run.view().fact("result", "last")?.is_none());
    assert!(run.store.violations(run.id)?.is_empty());
    Ok(())
}
