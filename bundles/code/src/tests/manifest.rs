//! The manifest agrees with itself and with what `next` asks for.

use std::collections::BTreeSet;

use loom_sdk::{ArgValue, Effect, NextStep, ParamType};

use super::harness::*;
use crate::manifest::manifest;

/// `{{name}}` placeholders in a body, as loom's renderer finds them.
fn placeholders(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("unclosed {{");
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

#[test]
fn names_phases_and_rules() {
    let m = manifest();
    assert_eq!((m.name.as_str(), m.version.as_str()), ("code", "0.1.0"));
    assert_eq!(
        m.phases,
        [
            "plan",
            "implement",
            "review",
            "fix",
            "test",
            "accept",
            "done",
            "failed"
        ]
    );
    let rules: Vec<&str> = m.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        rules,
        [
            "no-blocking-at-accept",
            "human-decides-touched-tests",
            "review-covers-latest-diff"
        ]
    );
    let steps: Vec<&str> = m.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        steps,
        [
            "plan",
            "implement",
            "apply",
            "review",
            "fix",
            "apply-fix",
            "test"
        ]
    );
    for s in &m.steps {
        assert!(m.phases.contains(&s.phase), "{}", s.name);
    }
}

#[test]
fn template_placeholders_are_declared_params_and_params_are_used() {
    for t in manifest().templates {
        let used: BTreeSet<String> = placeholders(&t.body).into_iter().collect();
        let declared: BTreeSet<String> = t.params.iter().map(|p| p.name.clone()).collect();
        assert_eq!(used, declared, "template {}", t.id);
    }
}

#[test]
fn prompts_state_the_reply_formats() {
    let m = manifest();
    let body = |id: &str| {
        m.templates
            .iter()
            .find(|t| t.id == id)
            .unwrap()
            .body
            .clone()
    };
    for id in ["implement", "fix"] {
        assert!(
            body(id).contains("ONE unified diff") && body(id).contains("```diff"),
            "{id}"
        );
    }
    assert!(body("review").contains(r#"{"findings": [{"severity": "blocking""#));
}

/// Every agent step `next` produces on the way through a run names a declared step, role and
/// template, and passes exactly the template's parameters with the declared types.
#[test]
fn agent_calls_match_their_templates() {
    let m = manifest();
    let mut run = Run::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut check = |next: NextStep| {
        let NextStep::Effect(e) = next else { return };
        let decl = m
            .steps
            .iter()
            .find(|s| s.name == e.step)
            .expect("declared step");
        seen.insert(e.step.clone());
        let Effect::Agent(call) = &e.effect else {
            assert!(decl.template.is_none());
            return;
        };
        assert_eq!(decl.role.as_deref(), Some(call.role.as_str()));
        assert_eq!(decl.template.as_deref(), Some(call.template.as_str()));
        let t = m
            .templates
            .iter()
            .find(|t| t.id == call.template)
            .expect("template");
        assert_eq!(t.params.len(), call.args.len(), "{}", t.id);
        for p in &t.params {
            let a = call
                .args
                .iter()
                .find(|a| a.name == p.name)
                .expect("arg for param");
            let ok = matches!(
                (p.type_, &a.value),
                (ParamType::Text, ArgValue::Text(_)) | (ParamType::TextList, ArgValue::TextList(_))
            );
            assert!(ok, "{}.{}", t.id, p.name);
        }
    };
    check(run.next());
    run.effect("plan", agent("plan")).unwrap();
    run.decide("plan", true, loom_sdk::Decider::Rule, None)
        .unwrap();
    check(run.next());
    run.effect("implement", agent(&diff_reply())).unwrap();
    check(run.next());
    run.effect("apply", diff_applied("h1", &[])).unwrap();
    check(run.next());
    run.effect("review", agent(&blocking("x"))).unwrap();
    check(run.next());
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["apply", "fix", "implement", "plan", "review"]
    );
}
