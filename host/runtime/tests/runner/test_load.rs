//! The well-behaved testkit: manifest, next, apply and check through a real kernel view; and a
//! manifest refused at load.

use crate::support::{runtime, testkit, Run, TestResult};
use loom_kernel::{Decider, Risk, TickKind, TickMeta};
use loom_runtime::*;

#[test]
fn manifest_is_read_at_load() {
    let rt = runtime();
    let bundle = testkit(&rt);
    let m = bundle.manifest();
    assert_eq!((m.name.as_str(), m.version.as_str()), ("testkit", "0.1.0"));
    assert_eq!(bundle.label(), "testkit@0.1.0");
    assert_eq!(m.phases, ["work", "done"]);
    assert_eq!(m.steps[0].role.as_deref(), Some("worker"));
    assert_eq!(m.gates[0].decider, Decider::Human);
    assert_eq!(m.gates[0].risk, Risk::Low);
    assert_eq!(m.rules[0].id, "no-forbidden");
    assert_eq!(m.templates[0].params[0].ty, ParamType::Text);
    assert!(m.templates[0].params[0].required);
    assert_eq!(
        bundle.hash(),
        loom_kernel::hash::sha256_hex(loom_guests::TESTKIT)
    );
}

#[test]
fn a_run_goes_work_gate_done() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("write the docs")?;

    // First: ask the worker, with the task title as the template argument.
    let step = bundle.next(&run.token()?, &run.view())?;
    let NextStep::Effect(EffectStep {
        step,
        effect: Effect::Agent(call),
    }) = step
    else {
        panic!("expected an agent call, got {step:?}");
    };
    assert_eq!((step.as_str(), call.role.as_str()), ("work", "worker"));
    assert_eq!(call.args[0].value, ArgValue::Text("write the docs".into()));

    // The reply becomes fact result/last, written through a tick the bundle's rules accept.
    let reply = Outcome::Agent(AgentReply {
        text: "done \"well\"".into(),
        touched: vec![],
        diff_hash: None,
    });
    let changes = bundle.apply(&run.token()?, &run.view(), "work", &reply)??;
    let [Change::PutFact { kind, key, value }] = changes.as_slice() else {
        panic!("expected one fact, got {changes:?}");
    };
    assert_eq!(value, r#""done \"well\"""#);
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact(kind, key, value)?;
    tick.commit(TickMeta::new(TickKind::Effect, "work"), Some(&bundle))?;

    // Then the gate; an approval moves to done; then finish.
    let gate = bundle.next(&run.token()?, &run.view())?;
    assert!(
        matches!(&gate, NextStep::Gate(g) if g.gate == "finish" && g.summary.contains("well")),
        "{gate:?}"
    );
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
    tick.commit(TickMeta::new(TickKind::Decision, "approved"), Some(&bundle))?;
    assert!(matches!(
        bundle.next(&run.token()?, &run.view())?,
        NextStep::Finish(_)
    ));
    Ok(())
}

#[test]
fn the_bundles_own_error_is_a_value() -> TestResult {
    let rt = runtime();
    let bundle = testkit(&rt);
    let run = Run::start("anything")?;
    let odd = Outcome::Command(CommandResult {
        exit_code: 0,
        output_tail: String::new(),
    });
    let refused = bundle.apply(&run.token()?, &run.view(), "work", &odd)?;
    assert!(matches!(refused, Err(msg) if msg.contains("no use for that outcome")));
    Ok(())
}

#[test]
fn invariants_from_a_bundle_use_its_rules() -> TestResult {
    let rt = runtime();
    let rules = rt.load_invariants(loom_guests::TESTKIT)?;
    assert_eq!(rules.label(), "testkit@0.1.0");
    let run = Run::start("anything")?;
    let mut tick = run.store.begin(run.token()?)?;
    tick.put_fact("result", "last", "\"FORBIDDEN\"")?;
    let found = rules.check_rules(&tick.token(), &tick.view())?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rows, ["fact:result/last"]);
    Ok(())
}

/// The shipped `code` bundle loads under the same sandbox (its behaviour is tested with it).
#[test]
fn the_shipped_code_bundle_loads() -> TestResult {
    let rt = runtime();
    let bundle = rt.load_bundle(loom_guests::CODE_BUNDLE)?;
    assert!(!bundle.manifest().name.is_empty());
    println!(
        "{} imports: {:?}",
        bundle.label(),
        rt.inspect(loom_guests::CODE_BUNDLE)?.imports.len()
    );
    Ok(())
}

/// Loading refuses a manifest with problems, listing every one of them.
#[test]
fn an_unsound_manifest_is_refused_with_every_problem() {
    let rt = runtime();
    let err = rt.load_bundle(loom_guests::BAD_MANIFEST).err();
    let Some(RuntimeError::Manifest { bundle, problems }) = &err else {
        panic!("expected a manifest error, got {err:?}");
    };
    assert_eq!(bundle, "bad-manifest@0.1.0");
    let expected = [
        "phase \"work\" is declared 2 times",
        "step \"work\" is in phase \"wrok\", which is not declared",
        "step \"work\" uses template \"missing\", which is not declared",
        "step \"uncertain:sneaky\" starts with \"uncertain:\"",
        "step \"ask\" names role \"asker\" but no template",
        "step \"work\" is declared 2 times",
        "gate \"uncertain:retry\" starts with \"uncertain:\"",
        "gate \"finish\" is declared 2 times",
        "rule \"r\" is declared 2 times",
        "template \"t\" uses {{nope}} in its body",
        "template \"t\" is declared 2 times",
        "needed command \"test\" is declared 2 times",
        "setting \"rounds\" declares the default \"three\", which is not an integer",
        "setting \"rounds\" is declared 2 times",
    ];
    for e in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with(
            "bundle bad-manifest@0.1.0 declares a manifest loom cannot run (14 problems):\n  - "
        ),
        "{msg}"
    );
    // As rules alone it still loads: `check` needs no manifest.
    assert!(rt.load_invariants(loom_guests::BAD_MANIFEST).is_ok());
}
