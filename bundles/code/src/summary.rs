//! The texts people read: what a gate shows its decider and how a finished run sums itself up.
//! A gate's summary is what a human approves (loom hashes it into the decision), so it states
//! the facts the decision rests on and nothing that changes between two renderings.

use std::fmt::Write;

use crate::state::{Source, State};

/// At most this many touched paths are listed by name.
const MAX_PATHS_SHOWN: usize = 20;

pub fn plan(s: &State, plan: &str) -> String {
    format!("Task: {}\n\nPlan:\n{plan}", s.task.title)
}

pub fn accept(s: &State) -> String {
    let mut out = format!("Task: {}\n", s.task.title);
    match s.diff() {
        Some(d) => {
            let _ = writeln!(
                out,
                "Diff: {} (fix rounds used: {} of {})",
                d.hash,
                s.fix_rounds(),
                s.settings.max_fix_rounds
            );
        }
        None => out.push_str("Diff: none applied\n"),
    }
    let touched = s.touched();
    let tests: Vec<&str> = touched
        .iter()
        .filter(|(_, t)| *t)
        .map(|(p, _)| p.as_str())
        .collect();
    let _ = writeln!(
        out,
        "Touched files ({}): {}",
        touched.len(),
        list(touched.iter().map(|(p, _)| p.as_str()))
    );
    if !tests.is_empty() {
        let _ = writeln!(
            out,
            "Test files touched, so a human decides: {}",
            list(tests.iter().copied())
        );
    }
    let current = s.diff().map(|d| d.hash);
    match s.test() {
        Some(t) if Some(&t.diff) == current.as_ref() => {
            let verdict = if t.exit == 0 { "passed" } else { "FAILED" };
            let _ = writeln!(out, "Tests: {verdict} (exit {}) on this diff", t.exit);
        }
        Some(t) => {
            let _ = writeln!(
                out,
                "Tests: last run (exit {}) was on an earlier diff",
                t.exit
            );
        }
        None => out.push_str("Tests: not run\n"),
    }
    let open = s.open_findings();
    if open.is_empty() {
        out.push_str("Open findings: none\n");
    } else {
        let _ = writeln!(out, "Open findings ({}):", open.len());
        for (id, f) in &open {
            let _ = writeln!(out, "- {}", f.line(id));
        }
    }
    out
}

pub fn done(s: &State) -> String {
    let hash = s.diff().map_or_else(|| "none".to_owned(), |d| d.hash);
    let findings = s.findings();
    let raised = |src: Source| findings.iter().filter(|(_, f)| f.source == src).count();
    format!(
        "Accepted: {}. Diff {hash} after {} fix round(s); {} review, {} test and {} human \
         finding(s) raised along the way.",
        s.task.title,
        s.fix_rounds(),
        raised(Source::Review),
        raised(Source::Test),
        raised(Source::Human),
    )
}

fn list<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = paths.collect();
    if all.is_empty() {
        return "none".into();
    }
    let mut shown = all
        .iter()
        .take(MAX_PATHS_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > MAX_PATHS_SHOWN {
        let _ = write!(shown, " and {} more", all.len() - MAX_PATHS_SHOWN);
    }
    shown
}
