//! A test guest whose manifest is unsound in every way loom checks at load: loom must refuse
//! it, listing each problem (`loom bundle check`, `loom run --bundle`).
//!
//! A manifest is read without a run (no view, so no task title or setting to pick from), which
//! is why this is a component of its own rather than a mode of the testkit. Its `next`,
//! `apply` and `check` are never reached.

#![allow(unsafe_code)] // `export!` generates the `#[unsafe(no_mangle)]` ABI glue.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "loom:bundle/bundle",
});

use exports::loom::bundle::{logic, rules};
use loom::bundle::types::{
    ApplyError, Change, Decider, Failure, GateDecl, Manifest, Needs, NextStep, Outcome, Param,
    ParamType, Risk, RuleDecl, SettingDecl, StepDecl, Template, TickToken, Violation,
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
        editable: false,
        doc: String::new(),
    }
}

fn setting(key: &str, default: &str) -> SettingDecl {
    SettingDecl {
        key: key.into(),
        type_: ParamType::Integer,
        default: Some(default.into()),
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
    fn manifest() -> Result<Manifest, Failure> {
        Ok(Manifest {
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
            needs: Needs {
                // A duplicate command.
                commands: vec!["test".into(), "test".into()],
                settings: vec![
                    // A default that is not of the declared type, and a duplicate setting.
                    setting("rounds", "\"three\""),
                    setting("rounds", "3"),
                ],
            },
        })
    }

    fn next(_tick: TickToken) -> Result<NextStep, Failure> {
        Ok(NextStep::Fail(
            "bad-manifest should never have been loaded".into(),
        ))
    }

    fn apply(
        _tick: TickToken,
        _step: String,
        _outcome: Outcome,
    ) -> Result<Vec<Change>, ApplyError> {
        Err(ApplyError::Refused(
            "bad-manifest should never have been loaded".into(),
        ))
    }
}

impl rules::Guest for BadManifest {
    fn check(_tick: TickToken) -> Result<Vec<Violation>, Failure> {
        Ok(Vec::new())
    }
}

// Exported only when built for wasm (see the testkit for why).
#[cfg(target_family = "wasm")]
export!(BadManifest);
