//! Checking a bundle's manifest when it is loaded, so a misdeclared bundle is refused with every
//! problem named instead of faulting later, mid-run, at the first step that needs the missing
//! piece.
//!
//! What is checked: every name is present and within [`NAME_BYTES_MAX`]; no phase, step, gate,
//! rule, template or template parameter is declared twice; each step's phase and template are
//! declared, and a step names a role exactly when it names a template (an agent step needs
//! both; a step loom performs itself needs neither); every `{{placeholder}}` of a template is
//! one of its parameters; and no step or gate takes a name loom reserves for itself. Roles are
//! not declared in a manifest (the project's configuration maps them to providers), so a role
//! can only be checked for its form. From 0.2.0 a manifest declares its needs too: each
//! command and setting is named once, and a setting's default is JSON of its declared type.

use crate::limits::NAME_BYTES_MAX;
use crate::types::{Manifest, Needs, Template};
use std::collections::BTreeMap;

/// Gates loom opens itself (for an effect whose outcome is uncertain) are named with this
/// prefix, so no bundle step or gate may use it: a decision on such a gate is handled by loom
/// and never reaches the bundle.
pub const UNCERTAIN_PREFIX: &str = "uncertain:";

/// Lists of declared names longer than this are cut short in a message.
const NAMES_SHOWN_MAX: usize = 12;

/// Every problem in `m`, each naming the item and what to fix; empty when it is sound.
pub(crate) fn problems(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    name(&mut out, "the bundle's name", &m.name);
    name(&mut out, "the bundle's version", &m.version);

    if m.phases.is_empty() {
        out.push(
            "it declares no phases; a run starts in the first phase, so declare at least one"
                .into(),
        );
    }
    for p in &m.phases {
        name(&mut out, &format!("phase {p:?}"), p);
    }
    duplicates(&mut out, "phase", m.phases.iter().map(String::as_str));

    for s in &m.steps {
        let what = format!("step {:?}", s.name);
        name(&mut out, &what, &s.name);
        reserved(&mut out, &what, &s.name);
        if !m.phases.contains(&s.phase) {
            out.push(format!(
                "{what} is in phase {:?}, which is not declared (phases: {}); declare the phase \
                 or move the step to one of them",
                s.phase,
                shown(m.phases.iter().map(String::as_str))
            ));
        }
        match (&s.role, &s.template) {
            (Some(role), Some(template)) => {
                name(&mut out, &format!("the role of {what}"), role);
                if !m.templates.iter().any(|t| &t.id == template) {
                    out.push(format!(
                        "{what} uses template {template:?}, which is not declared (templates: \
                         {}); declare it or use one of them",
                        shown(m.templates.iter().map(|t| t.id.as_str()))
                    ));
                }
            }
            (Some(role), None) => out.push(format!(
                "{what} names role {role:?} but no template; an agent step names both the role \
                 that answers and the template it is asked with"
            )),
            (None, Some(template)) => out.push(format!(
                "{what} names template {template:?} but no role; an agent step names both the \
                 role that answers and the template it is asked with"
            )),
            (None, None) => {}
        }
    }
    duplicates(&mut out, "step", m.steps.iter().map(|s| s.name.as_str()));

    for g in &m.gates {
        let what = format!("gate {:?}", g.name);
        name(&mut out, &what, &g.name);
        reserved(&mut out, &what, &g.name);
        if let Some(role) = &g.role {
            name(&mut out, &format!("the role of {what}"), role);
        }
    }
    duplicates(&mut out, "gate", m.gates.iter().map(|g| g.name.as_str()));

    for r in &m.rules {
        name(&mut out, &format!("rule {:?}", r.id), &r.id);
    }
    duplicates(&mut out, "rule", m.rules.iter().map(|r| r.id.as_str()));

    for t in &m.templates {
        template(&mut out, t);
    }
    duplicates(
        &mut out,
        "template",
        m.templates.iter().map(|t| t.id.as_str()),
    );
    if let Some(needs) = &m.needs {
        self::needs(&mut out, needs);
    }
    out
}

fn needs(out: &mut Vec<String>, needs: &Needs) {
    for c in &needs.commands {
        name(out, &format!("needed command {c:?}"), c);
    }
    duplicates(
        out,
        "needed command",
        needs.commands.iter().map(String::as_str),
    );
    for s in &needs.settings {
        let what = format!("setting {:?}", s.key);
        name(out, &what, &s.key);
        let Some(default) = &s.default else { continue };
        let fits =
            serde_json::from_str::<serde_json::Value>(default).is_ok_and(|v| s.ty.accepts(&v));
        if !fits {
            out.push(format!(
                "{what} declares the default {}, which is not {} as JSON text; declare one \
                 that is (e.g. {}), or none to make the setting required",
                default.chars().take(60).collect::<String>(),
                s.ty.describe(),
                s.ty.example()
            ));
        }
    }
    duplicates(
        out,
        "setting",
        needs.settings.iter().map(|s| s.key.as_str()),
    );
}

fn template(out: &mut Vec<String>, t: &Template) {
    let what = format!("template {:?}", t.id);
    name(out, &what, &t.id);
    for p in &t.params {
        name(out, &format!("a parameter of {what}"), &p.name);
    }
    duplicates(
        out,
        &format!("{what}: parameter"),
        t.params.iter().map(|p| p.name.as_str()),
    );
    let mut rest = t.body.as_str();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push(format!(
                "{what} has a {{{{ in its body that is never closed with }}}}; close it, or the \
                 template cannot be rendered"
            ));
            return;
        };
        let used = after[..end].trim();
        if !t.params.iter().any(|p| p.name == used) {
            out.push(format!(
                "{what} uses {{{{{used}}}}} in its body, which is not one of its parameters \
                 ({}); declare the parameter or fix the placeholder",
                shown(t.params.iter().map(|p| p.name.as_str()))
            ));
        }
        rest = &after[end + 2..];
    }
}

/// A name must be there and short enough to show.
fn name(out: &mut Vec<String>, what: &str, text: &str) {
    if text.trim().is_empty() {
        out.push(format!("{what} is empty; give it a name"));
    } else if text.len() > NAME_BYTES_MAX {
        out.push(format!(
            "{} is {} bytes long, over NAME_BYTES_MAX = {NAME_BYTES_MAX} bytes; shorten it",
            // The name itself would swamp the message; its start is enough to find it.
            what.chars().take(60).collect::<String>(),
            text.len()
        ));
    }
}

fn reserved(out: &mut Vec<String>, what: &str, text: &str) {
    if text.starts_with(UNCERTAIN_PREFIX) {
        out.push(format!(
            "{what} starts with {UNCERTAIN_PREFIX:?}, which loom reserves for the gates it opens \
             itself; rename it"
        ));
    }
}

/// One problem per name that occurs more than once among `names`.
fn duplicates<'a>(out: &mut Vec<String>, kind: &str, names: impl Iterator<Item = &'a str>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names {
        *seen.entry(n).or_default() += 1;
    }
    for (n, times) in seen.into_iter().filter(|(_, times)| *times > 1) {
        out.push(format!(
            "{kind} {n:?} is declared {times} times; ids must be unique, so rename or remove \
             the extra ones"
        ));
    }
}

pub(crate) fn shown<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    if all.is_empty() {
        return "none".into();
    }
    let mut list = all
        .iter()
        .take(NAMES_SHOWN_MAX)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > NAMES_SHOWN_MAX {
        list.push_str(&format!(" and {} more", all.len() - NAMES_SHOWN_MAX));
    }
    list
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
