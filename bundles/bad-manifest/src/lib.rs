//! A test guest whose manifest is unsound in every way loom checks at load: loom must refuse
//! it, listing each problem (`loom bundle check`, `loom run --bundle`).
//!
//! A manifest is read without a run (no view, so no task title or setting to pick from), which
//! is why this is a component of its own rather than a mode of the testkit. Its `next`,
//! `apply` and `check` are never reached.

#![allow(unsafe_code)] // `export!` generates the `#[unsafe(no_mangle)]` ABI glue.

wit_bindgen::generate!({
    path: "../../wit",
    world: "loom:bundle/bundle",
});

use exports::loom::bundle::{logic, rules};
use loom::bundle::types::{
    Change, Decider, GateDecl, Manifest, NextStep, Outcome, Param, ParamType, Risk, RuleDecl,
    StepDecl, Template, TickToken, Violation,
};

struct BadManifest;

fn step(name: &str, phase: &str, role: Option<&str>, template: Option<&str>) -> StepDecl {
    StepDecl {
        name: name.into(),
        phase: phase.into(),
        role: role.map(Into::into),
        template: template.map(Into::into),
        doc: String::new(),
    }
}

fn gate(name: &str) -> GateDecl {
    GateDecl {
        name: name.into(),
        decider: Decider::Human,
        risk: Risk::Low,
        role: None,
        doc: String::new(),
    }
}

fn rule(id: &str) -> RuleDecl {
    RuleDecl {
        id: id.into(),
        doc: String::new(),
    }
}

fn template(id: &str, body: &str) -> Template {
    Template {
        id: id.into(),
        params: vec![Param {
            name: "task".into(),
            type_: ParamType::Text,
            required: true,
            doc: String::new(),
        }],
        body: body.into(),
    }
}

impl logic::Guest for BadManifest {
    fn manifest() -> Manifest {
        Manifest {
            name: "bad-manifest".into(),
            version: "0.1.0".into(),
            // A duplicate phase.
            phases: vec!["work".into(), "work".into()],
            steps: vec![
                // An undeclared phase and an undeclared template.
                step("work", "wrok", Some("worker"), Some("missing")),
                // A duplicate step id.
                step("work", "work", None, None),
                // The reserved prefix.
                step("uncertain:sneaky", "work", None, None),
                // A role without a template.
                step("ask", "work", Some("asker"), None),
            ],
            // The reserved prefix, and a duplicate gate.
            gates: vec![gate("uncertain:retry"), gate("finish"), gate("finish")],
            // A duplicate rule.
            rules: vec![rule("r"), rule("r")],
            templates: vec![
                // A placeholder that is not a parameter.
                template("t", "Do {{task}} and {{nope}}"),
                // A duplicate template.
                template("t", "Do {{task}}"),
            ],
        }
    }

    fn next(_tick: TickToken) -> NextStep {
        NextStep::Fail("bad-manifest should never have been loaded".into())
    }

    fn apply(_tick: TickToken, _step: String, _outcome: Outcome) -> Result<Vec<Change>, String> {
        Err("bad-manifest should never have been loaded".into())
    }
}

impl rules::Guest for BadManifest {
    fn check(_tick: TickToken) -> Vec<Violation> {
        Vec::new()
    }
}

// Exported only when built for wasm (see the testkit for why).
#[cfg(target_family = "wasm")]
export!(BadManifest);
