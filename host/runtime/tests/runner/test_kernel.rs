//! The bundle as the kernel's commit-time rules.

use crate::support::{runtime, testkit, Run, TestResult};
use loom_kernel::{KernelError, RunStatus, TickKind, TickMeta};

#[test]
fn a_violation_rolls_the_tick_back() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("write the docs")?;
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact("result", "last", "\"this is FORBIDDEN\"")?;
    let err = match tick.commit(
        TickMeta::new(TickKind::Effect, "work").step("work"),
        Some(&bundle),
    ) {
        Err(e) => e,
        Ok(row) => panic!("committed {row:?}"),
    };
    let KernelError::Violated(violations) = err else {
        panic!("expected a violation, got {err:?}");
    };
    assert_eq!(violations[0].rule, "no-forbidden");
    assert_eq!(violations[0].rows, ["fact:result/last"]);
    // The fact never landed; the refusal is on record and the run stopped.
    assert!(run.view().fact("result", "last")?.is_none());
    assert_eq!(run.store.violations(run.id)?.len(), 1);
    assert_eq!(run.store.run(run.id)?.status, RunStatus::Stopped);
    Ok(())
}

#[test]
fn allowed_writes_commit() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("write the docs")?;
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact("result", "last", "\"fine\"")?;
    tick.commit(TickMeta::new(TickKind::Effect, "work"), Some(&bundle))?;
    assert_eq!(
        run.view()
            .fact("result", "last")?
            .map(|f| f.value)
            .as_deref(),
        Some("\"fine\"")
    );
    Ok(())
}

#[test]
fn hostile_rules_roll_the_tick_back() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("hostile:loop")?;
    let before = run.store.run(run.id)?.last_seq;
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact("result", "last", "\"fine\"")?;
    let err = match tick.commit(TickMeta::new(TickKind::Effect, "work"), Some(&bundle)) {
        Err(e) => e,
        Ok(row) => panic!("committed {row:?}"),
    };
    let KernelError::Rules(msg) = &err else {
        panic!("expected a rules fault, got {err:?}");
    };
    assert!(msg.contains("testkit@0.1.0 ran out of fuel"), "{msg}");
    assert!(run.view().fact("result", "last")?.is_none());
    assert_eq!(run.store.run(run.id)?.last_seq, before);
    assert!(run.store.violations(run.id)?.is_empty());
    Ok(())
}
