//! Engine records as the briefs the tools return, and the short texts a model reads first.

use crate::args::{
    ChainOut, DoneOut, GateBrief, LedgerRef, ReplayOut, RunOut, StatusOut, TickBrief,
};
use loom_engine::reads::{LogEntry, Status};
use loom_kernel::{Decider, Gate, GateStatus};

pub fn gate(g: &Gate) -> GateBrief {
    GateBrief {
        id: g.id,
        run: g.run_id,
        name: g.name.clone(),
        decider: g.decider.to_string(),
        status: g.status.to_string(),
        summary: g.summary.clone(),
        shown_hash: g.shown_hash.clone(),
    }
}

/// How a pending gate gets decided, for the model to pass on.
pub fn gate_line(g: &Gate) -> String {
    let who = match (g.status, g.decider) {
        (GateStatus::Pending, Decider::Agent) => format!(
            "waits for an agent: decide_gate with gate \"{}\" and shown_hash \"{}\"",
            g.name, g.shown_hash
        ),
        (GateStatus::Pending, Decider::Human) => format!(
            "waits for a human: a person decides it with `loom approve {}` (or `loom reject {} \
             --reason …`); an agent cannot",
            g.name, g.name
        ),
        (GateStatus::Pending, Decider::Rule) => "waits for its rule".into(),
        (s, _) => format!(
            "{s} by {} via {}",
            g.decided_by.as_deref().unwrap_or("?"),
            g.transport.as_deref().unwrap_or("?")
        ),
    };
    format!("gate {} (#{}, run #{}) {who}", g.name, g.id, g.run_id)
}

pub fn status(s: &Status) -> (String, StatusOut) {
    let mut lines = Vec::new();
    match (&s.task, &s.run) {
        (Some(t), Some(r)) => lines.push(format!(
            "task #{} \"{}\": run #{} is {} (phase {}, {} ticks)",
            t.id, t.title, r.id, r.status, r.phase, r.last_seq
        )),
        (None, Some(r)) => lines.push(format!(
            "no task is open; the newest run #{} ended {}",
            r.id, r.status
        )),
        _ => lines.push("no task yet: start one with start_task".into()),
    }
    if let Some(r) = s.run.as_ref().and_then(|r| r.stop_reason.as_ref()) {
        lines.push(format!("stopped because: {r}"));
    }
    if let Some(d) = &s.driver {
        lines.push(format!("driven by {}", d.describe()));
    }
    lines.extend(s.pending_gates.iter().map(gate_line));
    for v in &s.violations {
        lines.push(format!("rule {} fired: {}", v.rule, v.message));
    }
    let out = StatusOut {
        task: s.task.as_ref().map(|t| t.title.clone()),
        run: s.run.as_ref().map(|r| r.id),
        run_status: s.run.as_ref().map(|r| r.status.to_string()),
        driver: s.driver.as_ref().map(|d| d.describe()),
        pending_gates: s.pending_gates.iter().map(gate).collect(),
        detail: serde_json::to_value(loom_views::Status::from(s)).unwrap_or_default(),
    };
    (lines.join("\n"), out)
}

pub fn tick(e: &LogEntry) -> TickBrief {
    TickBrief {
        seq: e.tick.seq,
        kind: e.tick.kind.to_string(),
        step: e.tick.step.clone(),
        decider: e.tick.decider.clone(),
        summary: e.tick.summary.clone(),
        hash: e.tick.hash.clone(),
        ledger: e
            .ledger
            .iter()
            .map(|l| LedgerRef {
                key: l.key.clone(),
                attempt: l.attempt,
                kind: l.kind.clone(),
                status: l.status.to_string(),
            })
            .collect(),
    }
}

pub fn tick_line(t: &TickBrief) -> String {
    let ledger: Vec<String> = t
        .ledger
        .iter()
        .map(|l| format!("{} attempt {} {}", l.key, l.attempt, l.status))
        .collect();
    format!(
        "{:>3} {:<9} {:<10} {}{}",
        t.seq,
        t.kind,
        t.step.as_deref().unwrap_or("-"),
        t.summary,
        if ledger.is_empty() {
            String::new()
        } else {
            format!(" [ledger {}]", ledger.join(", "))
        }
    )
}

pub fn run_line(r: &RunOut) -> String {
    let mut lines = vec![format!(
        "run #{} is {}{} after {} ticks{}",
        r.run,
        r.status,
        r.reason
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default(),
        r.last_seq,
        if r.at_rest {
            ""
        } else {
            "; it drives on in the background (status, log or wait to follow it)"
        }
    )];
    for g in &r.pending_gates {
        lines.push(format!(
            "gate {} (#{}) waits for {} (shown_hash {})",
            g.name, g.id, g.decider, g.shown_hash
        ));
    }
    lines.join("\n")
}

pub fn abandoned(out: &DoneOut) -> String {
    if out.status == "abandon-requested" {
        format!(
            "abandon of run #{} requested: it is recorded when the current step ends (its \
             result is kept in the ledger); status shows when it has",
            out.run
        )
    } else {
        format!(
            "task #{} abandoned (run #{}); the project is free for a new task",
            out.task, out.run
        )
    }
}

pub fn verify(runs: &[ChainOut]) -> String {
    runs.iter()
        .map(|r| match &r.broken {
            None => format!("run #{}: {} ticks, chain intact", r.run, r.ticks),
            Some(b) => format!("run #{}: BROKEN at {b}", r.run),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn replay(out: &ReplayOut) -> String {
    out.runs
        .iter()
        .map(|r| {
            let mut l = format!(
                "run #{}: {}, {} of {} ticks replayed",
                r.run,
                if r.identical { "identical" } else { "DIFFERS" },
                r.replayed_ticks,
                r.recorded_ticks
            );
            if let Some(d) = &r.divergence {
                l.push_str(&format!("; {d}"));
            }
            for f in &r.firings {
                l.push_str(&format!("\n  {f}"));
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}
