//! `loom bundle check FILE.wasm [--json]`: what a component is (a bundle, or rules alone for
//! `replay --invariants`), the contract it targets, what it imports and exports, and whether
//! its manifest is sound. Problems that make loom refuse it exit 5; warnings (declared but
//! never used) do not. The compiled component is cached, so a second check of a large
//! (Python, JavaScript) component takes milliseconds instead of seconds.

use crate::color::{self, Style};
use crate::{errors, exit, print_json};
use anyhow::Result;
use loom_engine::{project, EngineError};
use loom_runtime::{ComponentReport, Limits, Manifest, Runtime, RuntimeError};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct Check {
    file: String,
    /// `bundle` (world `bundle`), `invariants` (rules alone), or `none`.
    world: &'static str,
    /// No problem: loom loads it as what it is.
    ok: bool,
    component: ComponentReport,
    /// The manifest of a bundle that loads (none for rules alone or a refused bundle).
    manifest: Option<Manifest>,
    /// What makes loom refuse it, each naming what to fix.
    problems: Vec<String>,
    /// What loom accepts but is likely a mistake.
    warnings: Vec<String>,
    /// Whether the compiled code came from the cache (`loaded`) or was compiled now.
    compiled: &'static str,
    cache_dir: Option<PathBuf>,
}

/// Where compiled components are kept: the project's `.loom/cache` inside a project, else
/// the user's cache directory (`$XDG_CACHE_HOME/loom`, `~/.cache/loom`).
fn cache_dir(project_dir: &Option<PathBuf>) -> Option<PathBuf> {
    let start = match project_dir {
        Some(p) => Some(crate::start_dir(&Some(p.clone())).ok()?),
        None => std::env::current_dir().ok(),
    };
    if let Some(root) = start.and_then(|s| project::find_root(&s).ok()) {
        return Some(root.join(project::DIR).join("cache"));
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .map(|c| c.join("loom"))
}

pub fn check(file: &Path, json: bool, project_dir: &Option<PathBuf>) -> Result<u8> {
    if project_dir.is_some() {
        // A `-C` that names no directory is refused before anything is compiled.
        crate::start_dir(project_dir)?;
    }
    let wasm = errors::read_named(file, "the component")?;
    let mut cache = cache_dir(project_dir);
    // The cache only saves time: one that cannot be made is not worth failing the check.
    let runtime = match Runtime::new(Limits::default(), cache.clone()) {
        Ok(r) => r,
        Err(_) => {
            cache = None;
            Runtime::new(Limits::default(), None).map_err(EngineError::Bundle)?
        }
    };
    // Bytes that are not a component cannot be described at all: a bundle fault, as in `run`.
    let component = runtime.inspect(&wasm).map_err(EngineError::Bundle)?;
    let mut problems = Vec::new();
    let mut manifest = None;
    let world = if component.is_bundle {
        "bundle"
    } else if component.has_rules {
        "invariants"
    } else {
        "none"
    };
    if !component.supported {
        problems.push(match &component.loom_version {
            Some(v) => format!(
                "it targets loom:bundle@{v}, and this loom supports {}; rebuild it against a \
                 supported contract",
                component.supported_range
            ),
            None => "it names no loom:bundle interface, so it is not a loom component (build \
                     it against wit/bundle.wit, e.g. with loom-sdk)"
                .to_owned(),
        });
    } else if world == "bundle" {
        match runtime.load_bundle(&wasm) {
            Ok(b) => manifest = Some(b.manifest().clone()),
            Err(RuntimeError::Manifest { problems: p, .. }) => problems.extend(p),
            Err(e) => problems.push(e.to_string()),
        }
    } else if world == "invariants" {
        if let Err(e) = runtime.load_invariants(&wasm) {
            problems.push(e.to_string());
        }
    } else {
        problems.push(
            "it exports neither loom:bundle/logic and rules (world bundle) nor rules alone \
             (world invariants); export one of them"
                .to_owned(),
        );
    }
    let warnings = manifest.as_ref().map(unused).unwrap_or_default();
    let stats = runtime.cache_stats();
    let check = Check {
        file: file.display().to_string(),
        world,
        ok: problems.is_empty(),
        component,
        manifest,
        problems,
        warnings,
        compiled: if stats.compiled == 0 && stats.loaded > 0 {
            "loaded"
        } else {
            "compiled"
        },
        cache_dir: cache,
    };
    if json {
        print_json(&check)?;
    } else {
        human(&check);
    }
    Ok(if check.ok { exit::OK } else { exit::BUNDLE })
}

/// What a manifest declares and nothing uses: a template no step asks with, a template
/// parameter its body never shows, a phase that has no step and is not the last one.
fn unused(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    for t in &m.templates {
        if !m.steps.iter().any(|s| s.template.as_deref() == Some(&t.id)) {
            out.push(format!(
                "template {:?} is declared, and no step uses it; remove it or name it in a step",
                t.id
            ));
        }
        for p in &t.params {
            let shown = t
                .body
                .split("{{")
                .skip(1)
                .any(|rest| rest.split("}}").next().map(str::trim) == Some(p.name.as_str()));
            if !shown {
                out.push(format!(
                    "parameter {:?} of template {:?} never appears in its body ({{{{{}}}}}); \
                     the agent is never shown it",
                    p.name, t.id, p.name
                ));
            }
        }
    }
    // The last phase is where a run ends up; the others are reached through their steps.
    let last = m.phases.last();
    for p in &m.phases {
        if Some(p) != last && !m.steps.iter().any(|s| &s.phase == p) {
            out.push(format!(
                "phase {p:?} has no step; a bundle that moves a run there can only finish or \
                 open a gate in it (declare its steps, or remove it)"
            ));
        }
    }
    out
}

fn human(c: &Check) {
    let r = &c.component;
    let version = r.loom_version.as_deref().unwrap_or("no version");
    let what = match c.world {
        "bundle" => "a loom bundle (world bundle)",
        "invariants" => "rules alone (world invariants, for `loom replay --invariants`)",
        _ => "not a loom component",
    };
    outln!("{}: {what}", color::paint(Style::Bold, &c.file));
    outln!(
        "  contract loom:bundle@{version} ({}; this loom supports {})",
        if r.supported {
            "supported"
        } else {
            "NOT supported"
        },
        r.supported_range
    );
    outln!(
        "  sha256 {} · {} bytes · {}",
        &r.hash[..r.hash.len().min(16)],
        r.size_bytes,
        match (c.compiled, &c.cache_dir) {
            ("loaded", Some(d)) =>
                format!("compiled code loaded from the cache in {}", d.display()),
            (_, Some(d)) => format!("compiled now, cached in {}", d.display()),
            _ => "compiled now (no cache)".to_owned(),
        }
    );
    for i in &r.imports {
        let how = if i.stubbed {
            "stubbed: traps if called"
        } else {
            "granted"
        };
        outln!("  imports {} ({how})", i.name);
    }
    for e in &r.exports {
        outln!("  exports {} ({})", e.name, e.functions.join(", "));
    }
    if let Some(m) = &c.manifest {
        outln!(
            "  manifest {} {}: {} phases, {} steps, {} gates, {} rules, {} templates",
            m.name,
            m.version,
            m.phases.len(),
            m.steps.len(),
            m.gates.len(),
            m.rules.len(),
            m.templates.len()
        );
        outln!("    phases: {}", m.phases.join(" → "));
        for s in &m.steps {
            let agent = match (&s.role, &s.template) {
                (Some(r), Some(t)) => format!(", role {r}, template {t}"),
                _ => String::new(),
            };
            outln!("    step {} (phase {}{agent})", s.name, s.phase);
        }
        for g in &m.gates {
            outln!("    gate {} ({}, risk {})", g.name, g.decider, g.risk);
        }
        for rule in &m.rules {
            outln!("    rule {}", rule.id);
        }
    }
    for p in &c.problems {
        outln!("  {} {p}", color::paint(Style::Red, "problem:"));
    }
    for w in &c.warnings {
        outln!("  {} {w}", color::paint(Style::Yellow, "warning:"));
    }
    match (c.ok, c.warnings.len()) {
        (true, 0) => outln!("{}", color::paint(Style::Green, "ok: loom loads it")),
        (true, n) => outln!(
            "{}",
            color::paint(Style::Green, &format!("ok: loom loads it ({n} warning(s))"))
        ),
        (false, _) => outln!(
            "{}",
            color::paint(
                Style::Red,
                &format!(
                    "refused: {} problem(s); loom will not load it",
                    c.problems.len()
                )
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_runtime::{Param, ParamType, StepDecl, Template};

    fn manifest() -> Manifest {
        Manifest {
            name: "t".into(),
            version: "0.1.0".into(),
            phases: vec!["work".into(), "idle".into(), "done".into()],
            steps: vec![StepDecl {
                name: "work".into(),
                phase: "work".into(),
                role: Some("worker".into()),
                template: Some("ask".into()),
                doc: String::new(),
            }],
            gates: vec![],
            rules: vec![],
            needs: Default::default(),
            templates: vec![
                Template {
                    id: "ask".into(),
                    params: vec![
                        Param {
                            name: "task".into(),
                            ty: ParamType::Text,
                            required: true,
                            doc: String::new(),
                        },
                        Param {
                            name: "hidden".into(),
                            ty: ParamType::Text,
                            required: false,
                            doc: String::new(),
                        },
                    ],
                    body: "Do {{ task }}".into(),
                },
                Template {
                    id: "spare".into(),
                    params: vec![],
                    body: "unused".into(),
                },
            ],
        }
    }

    #[test]
    fn what_is_declared_and_never_used_is_named() {
        let w = unused(&manifest());
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(w[0].contains("parameter \"hidden\""), "{w:#?}");
        assert!(w[1].contains("template \"spare\""), "{w:#?}");
        assert!(w[2].contains("phase \"idle\""), "{w:#?}");
    }
}
