//! Both contract versions on one host: a 0.1.0 guest keeps running beside 0.2.0 ones, and
//! what 0.2.0 adds (typed failures, `log`, needs, setting defaults) reaches loom.

use crate::support::{runtime, Run, TestResult};
use loom_kernel::{Decider, TickKind, TickMeta};
use loom_runtime::*;

/// Drives `bundle` (a testkit, of either version) through its good path: the worker's reply,
/// the finish gate, its approval, the finish. Returns the gate's summary.
fn good_path(bundle: &Bundle, run: &Run) -> Result<String, Box<dyn std::error::Error>> {
    let step = bundle.next(&run.token()?, &run.view())?;
    assert!(
        matches!(&step, NextStep::Effect(e) if e.step == "work"),
        "{step:?}"
    );
    let reply = Outcome::Agent(AgentReply {
        text: "done".into(),
        touched: vec![],
        diff_hash: None,
    });
    let changes = bundle.apply(&run.token()?, &run.view(), "work", &reply)??;
    let mut tick = run.store.begin(run.token()?)?;
    for c in &changes {
        if let Change::PutFact { kind, key, value } = c {
            tick.put_fact(kind, key, value)?;
        }
    }
    tick.commit(TickMeta::new(TickKind::Effect, "work"), Some(bundle))?;
    let NextStep::Gate(gate) = bundle.next(&run.token()?, &run.view())? else {
        panic!("expected the finish gate");
    };
    let approval = Outcome::Gate(GateDecision {
        gate: "finish".into(),
        approved: true,
        decider: Decider::Human,
        by: "ana".into(),
        note: None,
        edited: None,
    });
    let changes = bundle.apply(&run.token()?, &run.view(), "finish", &approval)??;
    assert_eq!(changes, [Change::Phase("done".into())]);
    let mut tick = run.store.begin(run.token()?)?;
    tick.set_phase("done")?;
    tick.commit(TickMeta::new(TickKind::Decision, "approved"), Some(bundle))?;
    assert!(matches!(
        bundle.next(&run.token()?, &run.view())?,
        NextStep::Finish(_)
    ));
    Ok(gate.summary)
}

#[test]
fn a_0_1_guest_runs_beside_a_0_2_guest_on_one_host() -> TestResult {
    let rt = runtime();
    let legacy = rt.load_bundle(loom_guests::TESTKIT_0_1)?;
    let current = rt.load_bundle(loom_guests::TESTKIT)?;
    assert_eq!(legacy.contract(), Contract::V0_1);
    assert_eq!(current.contract(), Contract::V0_2);
    assert_eq!(legacy.label(), "testkit-legacy@0.1.0");
    // What 0.1.0 cannot say gets its neutral value.
    assert_eq!(legacy.manifest().needs, None);
    assert!(!legacy.manifest().gates[0].editable);
    let needs = current.manifest().needs.clone().unwrap_or_default();
    assert_eq!(needs.settings[0].key, "summary-prefix");
    for bundle in [&legacy, &current] {
        let run = Run::start("write the docs")?;
        let summary = good_path(bundle, &run)?;
        assert_eq!(
            summary,
            "accept this result? \"done\"",
            "{}",
            bundle.label()
        );
    }
    // As rules alone, both load too.
    assert_eq!(
        rt.load_invariants(loom_guests::TESTKIT_0_1)?.contract(),
        Contract::V0_1
    );
    Ok(())
}

#[test]
fn a_declared_default_is_what_view_setting_returns_when_the_project_sets_none() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let run = Run::start_with("write the docs", r#"{"summary-prefix": "ok?"}"#)?;
    assert_eq!(good_path(&bundle, &run)?, "ok? \"done\"");
    // The legacy testkit reads the setting too, but declares no default.
    let legacy = rt.load_bundle(loom_guests::TESTKIT_0_1)?;
    let run = Run::start_with("write the docs", r#"{"summary-prefix": "ok?"}"#)?;
    assert_eq!(good_path(&legacy, &run)?, "accept this result? \"done\"");
    Ok(())
}

#[test]
fn a_failure_reaches_the_message_with_its_traceback_and_the_log() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let run = Run::start("hostile:fail")?;
    let err = bundle.next(&run.token()?, &run.view()).err();
    let Some(err @ RuntimeError::Failed { .. }) = err else {
        panic!("expected Failed, got {err:?}");
    };
    assert_eq!(
        err.to_string(),
        "bundle testkit@0.1.0 failed in logic.next: testkit was asked to fail in next\n  \
         traceback:\n    at testkit::next\n    at the host\n  its last log lines:\n    \
         info: testkit is about to misbehave\n    warn: next is going to fail"
    );
    Ok(())
}

#[test]
fn a_failure_in_apply_is_a_fault_and_a_refusal_is_a_value() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let reply = Outcome::Agent(AgentReply {
        text: "x".into(),
        touched: vec![],
        diff_hash: None,
    });
    let run = Run::start("hostile:apply-fail")?;
    let err = bundle
        .apply(&run.token()?, &run.view(), "work", &reply)
        .err();
    assert!(
        matches!(&err, Some(e @ RuntimeError::Failed { call: "logic.apply", .. })
            if e.to_string().contains("asked to fail in apply")),
        "{err:?}"
    );
    // A decision the testkit cannot use is refused: a value, not a fault.
    let run = Run::start("refuse:bare-rejection")?;
    let rejection = Outcome::Gate(GateDecision {
        gate: "finish".into(),
        approved: false,
        decider: Decider::Human,
        by: "ana".into(),
        note: Some("no".into()),
        edited: None,
    });
    let refused = bundle.apply(&run.token()?, &run.view(), "finish", &rejection)?;
    assert!(
        matches!(&refused, Err(why) if why.contains("because")),
        "{refused:?}"
    );
    Ok(())
}

#[test]
fn a_failure_in_check_is_a_fault_of_the_rules() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let run = Run::start("hostile:check-fail")?;
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact("result", "last", "\"x\"")?;
    let err = bundle.check_rules(&tick.token(), &tick.view()).err();
    assert!(
        matches!(&err, Some(e @ RuntimeError::Failed { call: "rules.check", .. })
            if e.to_string().contains("warn: check is going to fail")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn only_the_last_log_lines_are_kept_each_cut_short() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let run = Run::start("hostile:log-flood")?;
    let err = bundle.next(&run.token()?, &run.view()).err();
    let Some(RuntimeError::Failed { log, .. }) = &err else {
        panic!("expected Failed, got {err:?}");
    };
    assert_eq!(log.len(), limits::LOG_LINES_KEPT, "{log:?}");
    assert_eq!(
        log.last().map(String::as_str),
        Some("warn: next is going to fail")
    );
    assert!(log[0].starts_with("debug: line 991 xxx"), "{}", log[0]);
    let cut = format!(
        "… ({} more bytes)",
        "line 991 ".len() + 5_000 - limits::LOG_LINE_BYTES_MAX
    );
    assert!(log[0].ends_with(&cut), "{}", &log[0][log[0].len() - 40..]);
    assert!(log[0].len() < limits::LOG_LINE_BYTES_MAX + 40);
    Ok(())
}

#[test]
fn a_command_its_needs_do_not_declare_is_a_fault_naming_it() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::TESTKIT)?;
    let run = Run::start("hostile:undeclared-command")?;
    let err = bundle.next(&run.token()?, &run.view()).err();
    let Some(err @ RuntimeError::Undeclared { .. }) = err else {
        panic!("expected Undeclared, got {err:?}");
    };
    let text = err.to_string();
    assert!(
        text.contains("command `deploy`") && text.contains("(declared: none)"),
        "{text}"
    );
    Ok(())
}

#[test]
fn a_panic_in_an_sdk_bundle_reaches_the_message() -> TestResult {
    let rt = runtime();
    let hello = rt.load_bundle(loom_guests::HELLO)?;
    assert_eq!(hello.contract(), Contract::V0_2);
    let run = Run::start("panic, please")?;
    let err = hello.next(&run.token()?, &run.view()).err();
    let Some(err @ RuntimeError::Trap { .. }) = err else {
        panic!("expected a trap, got {err:?}");
    };
    let text = err.to_string();
    println!("{text}");
    for part in [
        "bundle hello@0.1.0 trapped in logic.next",
        "info: about to panic, as the task asks",
        "error: panicked at bundles/hello/src/lib.rs:",
        "hello was asked to panic",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    // The hook keeps std's default panic output, and its WASI calls, out of it.
    assert!(!text.contains("wasi:"), "{text}");
    Ok(())
}

#[test]
fn a_0_1_panic_still_names_the_wasi_call_with_no_log() -> TestResult {
    let rt = runtime();
    let legacy = rt.load_bundle(loom_guests::TESTKIT_0_1)?;
    let run = Run::start("hostile:trap")?;
    let err = legacy.next(&run.token()?, &run.view()).err();
    let Some(err @ RuntimeError::Denied { .. }) = err else {
        panic!("expected Denied, got {err:?}");
    };
    assert!(err.to_string().contains("look for a panic"), "{err}");
    assert!(!err.to_string().contains("log lines"), "{err}");
    Ok(())
}

/// Imports `view` of 0.1.0 and exports `logic` of 0.2.0.
const MIXED: &str = r#"
(component
  (import "loom:bundle/view@0.1.0" (instance))
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $logic (export "manifest" (func $f)))
  (export "loom:bundle/logic@0.2.0" (instance $logic))
)
"#;

#[test]
fn a_component_naming_two_versions_is_refused() {
    let err = runtime().load_bundle(MIXED.as_bytes()).err();
    let Some(err @ RuntimeError::MixedVersions { .. }) = err else {
        panic!("expected MixedVersions, got {err:?}");
    };
    assert!(
        err.to_string()
            .contains("targets loom:bundle@0.2.0 but also names loom:bundle/view@0.1.0"),
        "{err}"
    );
}
