//! One test per kind of manifest problem, on manifests built by hand.

use super::*;
use crate::types::{GateDecl, Needs, Param, ParamType, RuleDecl, SettingDecl, StepDecl};
use loom_kernel::{Decider, Risk};

/// A sound manifest shaped like the `code` bundle's: an agent step, a step loom performs
/// itself, a gate, a rule and a template.
fn sound() -> Manifest {
    Manifest {
        name: "b".into(),
        version: "0.1.0".into(),
        phases: vec!["work".into(), "done".into()],
        steps: vec![
            StepDecl {
                name: "work".into(),
                phase: "work".into(),
                role: Some("worker".into()),
                template: Some("work".into()),
                doc: String::new(),
            },
            StepDecl {
                name: "apply".into(),
                phase: "work".into(),
                role: None,
                template: None,
                doc: String::new(),
            },
        ],
        gates: vec![GateDecl {
            name: "work".into(),
            decider: Decider::Human,
            risk: Risk::Low,
            role: Some("reviewer".into()),
            editable: false,
            doc: String::new(),
        }],
        rules: vec![RuleDecl {
            id: "r".into(),
            doc: String::new(),
        }],
        templates: vec![Template {
            id: "work".into(),
            params: vec![param("task"), param("plan")],
            body: "Do {{task}} following {{ plan }}; JSON like {\"a\": 1} is fine.".into(),
        }],
        needs: Some(Needs {
            commands: vec!["test".into()],
            settings: vec![setting("rounds", ParamType::Integer, Some("3"))],
        }),
    }
}

fn setting(key: &str, ty: ParamType, default: Option<&str>) -> SettingDecl {
    SettingDecl {
        key: key.into(),
        ty,
        default: default.map(Into::into),
        doc: String::new(),
    }
}

fn param(name: &str) -> Param {
    Param {
        name: name.into(),
        ty: ParamType::Text,
        required: true,
        doc: String::new(),
    }
}

/// The one problem `m` has; fails if it has none or several.
#[track_caller]
fn only_problem(m: &Manifest) -> String {
    let found = problems(m);
    assert_eq!(found.len(), 1, "{found:#?}");
    found[0].clone()
}

#[track_caller]
fn says(problem: &str, parts: &[&str]) {
    for part in parts {
        assert!(problem.contains(part), "{problem:?} should say {part:?}");
    }
}

#[test]
fn a_sound_manifest_has_no_problems() {
    assert_eq!(problems(&sound()), Vec::<String>::new());
}

#[test]
fn a_step_in_an_undeclared_phase() {
    let mut m = sound();
    m.steps[1].phase = "wrok".into();
    let p = only_problem(&m);
    says(
        &p,
        &[
            "step \"apply\"",
            "phase \"wrok\"",
            "not declared",
            "work, done",
        ],
    );
}

#[test]
fn a_step_with_an_undeclared_template() {
    let mut m = sound();
    m.steps[0].template = Some("wrk".into());
    let p = only_problem(&m);
    says(
        &p,
        &[
            "step \"work\"",
            "template \"wrk\"",
            "not declared",
            "(templates: work)",
        ],
    );
}

#[test]
fn a_step_with_a_role_and_no_template_or_the_reverse() {
    let mut m = sound();
    m.steps[0].template = None;
    says(
        &only_problem(&m),
        &["step \"work\"", "role \"worker\" but no template"],
    );
    let mut m = sound();
    m.steps[0].role = None;
    says(
        &only_problem(&m),
        &["step \"work\"", "template \"work\" but no role"],
    );
}

#[test]
fn a_placeholder_that_is_not_a_parameter() {
    let mut m = sound();
    m.templates[0].body = "Do {{task}} and {{tsak}}".into();
    let p = only_problem(&m);
    says(
        &p,
        &[
            "template \"work\"",
            "{{tsak}}",
            "not one of its parameters",
            "(task, plan)",
        ],
    );
}

#[test]
fn an_unclosed_placeholder() {
    let mut m = sound();
    m.templates[0].body = "Do {{task}} and {{plan".into();
    says(&only_problem(&m), &["template \"work\"", "never closed"]);
}

#[test]
fn duplicate_ids_of_each_kind() {
    let mut m = sound();
    m.phases.push("work".into());
    says(&only_problem(&m), &["phase \"work\" is declared 2 times"]);

    let mut m = sound();
    m.steps.push(m.steps[1].clone());
    says(&only_problem(&m), &["step \"apply\" is declared 2 times"]);

    let mut m = sound();
    m.gates.push(m.gates[0].clone());
    m.gates.push(m.gates[0].clone());
    says(&only_problem(&m), &["gate \"work\" is declared 3 times"]);

    let mut m = sound();
    m.rules.push(m.rules[0].clone());
    says(&only_problem(&m), &["rule \"r\" is declared 2 times"]);

    let mut m = sound();
    m.templates.push(m.templates[0].clone());
    says(
        &only_problem(&m),
        &["template \"work\" is declared 2 times"],
    );

    let mut m = sound();
    m.templates[0].params.push(param("task"));
    says(
        &only_problem(&m),
        &["template \"work\": parameter \"task\" is declared 2 times"],
    );
}

#[test]
fn a_step_and_a_gate_may_share_a_name() {
    // The `code` bundle has both a step and a gate called "plan".
    let m = sound();
    assert_eq!(m.steps[0].name, m.gates[0].name);
    assert!(problems(&m).is_empty());
}

#[test]
fn the_reserved_prefix_is_refused_for_gates_and_steps() {
    let mut m = sound();
    m.gates[0].name = "uncertain:retry".into();
    says(
        &only_problem(&m),
        &[
            "gate \"uncertain:retry\"",
            "starts with \"uncertain:\"",
            "reserves",
        ],
    );
    let mut m = sound();
    m.steps[1].name = "uncertain:x".into();
    says(&only_problem(&m), &["step \"uncertain:x\"", "reserves"]);
}

#[test]
fn empty_and_overlong_names() {
    let mut m = sound();
    m.rules[0].id = " ".into();
    says(&only_problem(&m), &["rule \" \" is empty"]);
    let mut m = sound();
    m.name = "n".repeat(NAME_BYTES_MAX + 1);
    says(
        &only_problem(&m),
        &[
            "the bundle's name is 129 bytes long",
            "NAME_BYTES_MAX = 128 bytes",
        ],
    );
    let mut m = sound();
    m.steps[0].role = Some(String::new());
    says(&only_problem(&m), &["the role of step \"work\" is empty"]);
}

#[test]
fn a_manifest_without_phases() {
    let mut m = sound();
    m.phases.clear();
    m.steps.clear();
    says(&only_problem(&m), &["declares no phases"]);
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let mut m = sound();
    m.phases.push("done".into());
    m.steps[0].phase = "nowhere".into();
    m.gates[0].name = "uncertain:g".into();
    m.templates[0].body.push_str("{{nope}}");
    let found = problems(&m);
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn needs_name_each_command_and_setting_once() {
    let mut m = sound();
    if let Some(n) = m.needs.as_mut() {
        n.commands.push("test".into());
    }
    says(
        &only_problem(&m),
        &["needed command \"test\" is declared 2 times"],
    );
    let mut m = sound();
    if let Some(n) = m.needs.as_mut() {
        n.settings
            .push(setting("rounds", ParamType::Text, Some(r#""x""#)));
    }
    says(
        &only_problem(&m),
        &["setting \"rounds\" is declared 2 times"],
    );
    let mut m = sound();
    if let Some(n) = m.needs.as_mut() {
        n.commands.push(String::new());
        n.settings[0].key = "k".repeat(NAME_BYTES_MAX + 1);
    }
    let found = problems(&m);
    assert_eq!(found.len(), 2, "{found:#?}");
    says(&found[0], &["needed command \"\" is empty"]);
    says(&found[1], &["setting \"kkk", "NAME_BYTES_MAX"]);
}

#[test]
fn a_settings_default_must_be_json_of_its_type() {
    for (ty, bad) in [
        (ParamType::Integer, r#""3""#),
        (ParamType::Integer, "3.5"),
        (ParamType::Text, "3"),
        (ParamType::Boolean, "yes"),
        (ParamType::TextList, r#"["a", 1]"#),
        (ParamType::TextList, "not json"),
    ] {
        let mut m = sound();
        if let Some(n) = m.needs.as_mut() {
            n.settings[0] = setting("rounds", ty, Some(bad));
        }
        says(
            &only_problem(&m),
            &["setting \"rounds\" declares the default", ty.describe()],
        );
    }
    for (ty, good) in [
        (ParamType::Integer, "-3"),
        (ParamType::Text, r#""main""#),
        (ParamType::Boolean, "false"),
        (ParamType::TextList, r#"["a", "b"]"#),
    ] {
        let mut m = sound();
        if let Some(n) = m.needs.as_mut() {
            n.settings[0] = setting("rounds", ty, Some(good));
        }
        assert_eq!(problems(&m), Vec::<String>::new(), "{good}");
    }
    // No default makes the setting required, which the manifest may say.
    let mut m = sound();
    if let Some(n) = m.needs.as_mut() {
        n.settings[0].default = None;
    }
    assert!(problems(&m).is_empty());
}
