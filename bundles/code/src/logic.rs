//! The state machine: which step comes next ([`next`]) and what a step's outcome changes
//! ([`apply`]). Pure functions of a [`State`] snapshot; see the README for the phase diagram.
//!
//! Every loop goes through `fix`, and a fix only counts once its diff is applied, which bumps
//! `rounds/fix`; `review` and `test` send a run to `fix` only while rounds are left, and
//! `accept` fails the run once they are gone. So a run ends after at most
//! `max-fix-rounds + 1` passes of implement/review/test, whatever the agents reply.

use loom_sdk::{
    arg, AgentReply, Change, CommandResult, Decider, DiffResult, GateDecision, NextStep, Outcome,
};

use crate::reply::{extract_diff, parse_findings, tail};
use crate::state::{
    put, DiffFact, Finding, PendingDiff, ReviewFact, RoundsFact, Severity, Source, Stage,
    StageFact, State, Status, TestFact, TextFact, TouchedFact,
};
use crate::{glob, summary};

/// Lines and characters of a failing test run's output kept in its finding.
const TEST_TAIL_LINES: usize = 30;
const TEST_TAIL_CHARS: usize = 3_000;

/// What comes next in `s`.
pub fn next(s: &State) -> NextStep {
    match s.phase.as_str() {
        "plan" => match s.plan() {
            None => NextStep::agent("plan", "planner", "plan", vec![arg::text("task", task(s))]),
            Some(plan) => NextStep::gate("plan", summary::plan(s, &plan), false),
        },
        "implement" | "fix" => write_or_apply(s),
        "review" => match (s.plan(), s.diff()) {
            (Some(plan), Some(diff)) => NextStep::agent(
                "review",
                "reviewer",
                "review",
                vec![
                    arg::text("task", task(s)),
                    arg::text("plan", plan),
                    arg::text("diff", diff.text),
                ],
            ),
            _ => NextStep::Fail("review phase without a plan and an applied diff".into()),
        },
        "test" => NextStep::command("test", "test", true),
        "accept" => NextStep::gate("accept", summary::accept(s), accept_needs_human(s)),
        "done" => NextStep::Finish(summary::done(s)),
        "failed" => NextStep::Fail(s.failure().unwrap_or_else(|| "the run failed".into())),
        other => NextStep::Fail(format!("unknown phase `{other}`")),
    }
}

/// The write or apply sub-step of `implement` or `fix`.
fn write_or_apply(s: &State) -> NextStep {
    let fixing = s.phase == "fix";
    let (write, apply) = if fixing {
        ("fix", "apply-fix")
    } else {
        ("implement", "apply")
    };
    match s.stage() {
        Stage::Write => {
            let Some(plan) = s.plan() else {
                return NextStep::Fail(format!("{} phase without a plan", s.phase));
            };
            let args = if fixing {
                let diff = s.diff().map(|d| d.text).unwrap_or_default();
                let findings = s
                    .open_findings()
                    .iter()
                    .map(|(id, f)| f.line(id))
                    .collect::<Vec<_>>();
                vec![
                    arg::text("task", task(s)),
                    arg::text("diff", diff),
                    arg::text_list("findings", findings),
                ]
            } else {
                vec![arg::text("task", task(s)), arg::text("plan", plan)]
            };
            NextStep::agent(write, "implementer", write, args)
        }
        Stage::Apply => match s.latest_done(write) {
            Some(key) => NextStep::apply_diff(apply, key),
            None => NextStep::Fail(format!(
                "no completed `{write}` ledger entry holds a diff to apply"
            )),
        },
    }
}

/// Whether the accept gate must go to a human whatever the policy says: the change touched a
/// test file, or a human's earlier rejection is still open (only a human can withdraw it).
pub fn accept_needs_human(s: &State) -> bool {
    s.touched().iter().any(|(_, test)| *test)
        || s.open_findings()
            .iter()
            .any(|(_, f)| f.source == Source::Human)
}

/// The changes that follow from `outcome` of `step` in `s`. `Err` when the outcome does not fit
/// the state (a host bug) or a reply is unusable in a way worth retrying (the review format).
pub fn apply(s: &State, step: &str, outcome: &Outcome) -> Result<Vec<Change>, String> {
    match (step, outcome) {
        (_, Outcome::Gate(d)) => match d.gate.as_str() {
            "plan" => expect(s, "plan").and_then(|()| plan_decided(s, d)),
            "accept" => expect(s, "accept").and_then(|()| accept_decided(s, d)),
            other => Err(format!("unknown gate `{other}`")),
        },
        ("plan", Outcome::Agent(r)) => expect(s, "plan").and_then(|()| planned(r)),
        ("implement", Outcome::Agent(r)) => {
            expect(s, "implement").and_then(|()| wrote(r, "implement"))
        }
        ("fix", Outcome::Agent(r)) => expect(s, "fix").and_then(|()| wrote(r, "fix")),
        ("review", Outcome::Agent(r)) => expect(s, "review").and_then(|()| reviewed(s, r)),
        ("apply", Outcome::Diff(d)) => expect(s, "implement").and_then(|()| applied(s, d, false)),
        ("apply-fix", Outcome::Diff(d)) => expect(s, "fix").and_then(|()| applied(s, d, true)),
        ("test", Outcome::Command(c)) => expect(s, "test").and_then(|()| tested(s, c)),
        _ => Err(format!(
            "step `{step}` with this kind of outcome does not belong to the code bundle"
        )),
    }
}

fn expect(s: &State, phase: &str) -> Result<(), String> {
    if s.phase == phase {
        Ok(())
    } else {
        Err(format!(
            "an outcome for phase `{phase}` arrived in phase `{}`",
            s.phase
        ))
    }
}

fn task(s: &State) -> String {
    s.task.title.clone()
}

fn phase(p: &str) -> Change {
    Change::phase(p)
}

fn stage(name: Stage) -> Result<Change, String> {
    put("stage", "current", &StageFact { name })
}

fn fail(reason: String) -> Result<Vec<Change>, String> {
    Ok(vec![
        put("failure", "reason", &TextFact { text: reason })?,
        phase("failed"),
    ])
}

/// Back to `fix` (writing) when rounds are left; otherwise `otherwise`.
fn fix_or(s: &State, otherwise: Vec<Change>) -> Result<Vec<Change>, String> {
    if s.rounds_left() {
        Ok(vec![stage(Stage::Write)?, phase("fix")])
    } else {
        Ok(otherwise)
    }
}

fn planned(r: &AgentReply) -> Result<Vec<Change>, String> {
    let text = r.text.trim();
    if text.is_empty() {
        return fail("the planner returned an empty plan".into());
    }
    Ok(vec![put(
        "plan",
        "text",
        &TextFact {
            text: text.to_owned(),
        },
    )?])
}

fn plan_decided(s: &State, d: &GateDecision) -> Result<Vec<Change>, String> {
    if d.approved {
        let mut changes = vec![stage(Stage::Write)?, phase("implement")];
        // Approved with edits: the person's plan replaces the planner's. They edited the
        // gate's whole text; the plan is what follows its "Plan:" heading, if they kept it.
        if let Some(edited) = &d.edited {
            let heading = summary::plan(s, "");
            let text = edited
                .strip_prefix(heading.as_str())
                .unwrap_or(edited)
                .trim();
            if text.is_empty() {
                return Err(
                    "the edited plan is empty; approve the plan as shown or reject it".into(),
                );
            }
            changes.push(put(
                "plan",
                "text",
                &TextFact {
                    text: text.to_owned(),
                },
            )?);
        }
        return Ok(changes);
    }
    fail(format!("the plan was rejected by {}{}", d.by, note(d)))
}

fn note(d: &GateDecision) -> String {
    d.note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map_or(String::new(), |n| format!(": {n}"))
}

/// An implementer's reply: keep its diff for the apply sub-step.
fn wrote(r: &AgentReply, step: &str) -> Result<Vec<Change>, String> {
    let Some(text) = extract_diff(&r.text) else {
        return fail(format!("the implementer returned no diff (step `{step}`)"));
    };
    Ok(vec![
        put(
            "diff",
            "pending",
            &PendingDiff {
                text,
                step: step.into(),
            },
        )?,
        stage(Stage::Apply)?,
    ])
}

fn applied(s: &State, d: &DiffResult, fixing: bool) -> Result<Vec<Change>, String> {
    let what = if fixing { "fix" } else { "implement" };
    if !d.applied {
        let error = d.error.as_deref().unwrap_or("no error given");
        return fail(format!("the {what} diff did not apply: {error}"));
    }
    let pending = s
        .pending_diff()
        .ok_or("a diff was applied but none was pending")?;
    let round = if fixing { s.fix_rounds() + 1 } else { 0 };
    let mut changes = vec![
        put(
            "diff",
            "latest",
            &DiffFact {
                hash: d.diff_hash.clone(),
                text: pending.text,
                round,
            },
        )?,
        Change::drop_fact("diff", "pending"),
    ];
    for path in &d.touched {
        let test = glob::any(&s.settings.test_globs, path);
        changes.push(put("touched", path, &TouchedFact { test })?);
    }
    if fixing {
        changes.push(put("rounds", "fix", &RoundsFact { n: round })?);
    }
    changes.extend([stage(Stage::Write)?, phase("review")]);
    Ok(changes)
}

/// A review states the complete list: earlier open review findings are resolved and the listed
/// ones are added under new ids. Test and human findings are left to the test run and the human.
fn reviewed(s: &State, r: &AgentReply) -> Result<Vec<Change>, String> {
    let listed = parse_findings(&r.text)?;
    let diff = s.diff().ok_or("a review arrived but no diff is applied")?;
    let mut changes = Vec::new();
    changes.extend(resolve_open(s, Source::Review)?);
    let first = s.next_finding_number();
    for (i, f) in listed.iter().enumerate() {
        let finding = Finding {
            severity: f.severity,
            status: Status::Open,
            text: f.text.clone(),
            path: f.path.clone(),
            source: Source::Review,
        };
        changes.push(put("finding", &format!("F{}", first + i), &finding)?);
    }
    changes.push(put("review", "latest", &ReviewFact { diff: diff.hash })?);
    let blocking = listed.iter().any(|f| f.severity == Severity::Blocking);
    let to_test = vec![phase("test")];
    if blocking {
        changes.extend(fix_or(s, to_test)?);
    } else {
        changes.extend(to_test);
    }
    Ok(changes)
}

fn tested(s: &State, c: &CommandResult) -> Result<Vec<Change>, String> {
    let diff = s.diff().map(|d| d.hash).unwrap_or_default();
    let mut changes = vec![put(
        "test",
        "latest",
        &TestFact {
            exit: c.exit_code,
            diff,
        },
    )?];
    if c.exit_code == 0 {
        changes.extend(resolve_open(s, Source::Test)?);
        changes.push(phase("accept"));
        return Ok(changes);
    }
    let output = tail(&c.output_tail, TEST_TAIL_LINES, TEST_TAIL_CHARS);
    let finding = Finding {
        severity: Severity::Blocking,
        status: Status::Open,
        text: format!(
            "tests failed with exit code {}; last lines of output:\n{output}",
            c.exit_code
        ),
        path: None,
        source: Source::Test,
    };
    changes.push(put(
        "finding",
        &format!("F{}", s.next_finding_number()),
        &finding,
    )?);
    changes.extend(fix_or(s, vec![phase("accept")])?);
    Ok(changes)
}

/// Marks every open finding that came from `source` resolved.
fn resolve_open(s: &State, source: Source) -> Result<Vec<Change>, String> {
    s.open_findings()
        .into_iter()
        .filter(|(_, f)| f.source == source)
        .map(|(id, f)| {
            put(
                "finding",
                &id,
                &Finding {
                    status: Status::Resolved,
                    ..f
                },
            )
        })
        .collect()
}

fn accept_decided(s: &State, d: &GateDecision) -> Result<Vec<Change>, String> {
    if d.approved {
        let mut changes = Vec::new();
        // A human approving withdraws any objection a human raised earlier.
        if d.decider == Decider::Human {
            changes.extend(resolve_open(s, Source::Human)?);
        }
        changes.push(phase("done"));
        return Ok(changes);
    }
    let text = match d.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("rejected at accept by {}: {n}", d.by),
        None => format!("rejected at accept by {} (no note)", d.by),
    };
    let finding = Finding {
        severity: Severity::Blocking,
        status: Status::Open,
        text: text.clone(),
        path: None,
        source: Source::Human,
    };
    let mut changes = vec![put(
        "finding",
        &format!("F{}", s.next_finding_number()),
        &finding,
    )?];
    let reason = format!("{text}, with no fix rounds left ({} used)", s.fix_rounds());
    changes.extend(fix_or(
        s,
        vec![
            put("failure", "reason", &TextFact { text: reason })?,
            phase("failed"),
        ],
    )?);
    Ok(changes)
}
