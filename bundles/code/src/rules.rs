//! The bundle's invariants, checked by loom inside every tick's transaction before it commits.
//! Each reads only the [`State`] (built from the view) and names the rows that break it.

use loom_sdk::{Decider, Gate, Violation};

use crate::manifest::{
    HUMAN_DECIDES_TOUCHED_TESTS, NO_BLOCKING_AT_ACCEPT, REVIEW_COVERS_LATEST_DIFF,
};
use crate::state::State;

/// Whether any rule can fire, given the latest opening of `accept`. Every rule is about
/// letting the run finish, which only an approved `accept` does (an approval ends the run, so
/// it is always the latest opening): until then there is nothing else to read, which keeps
/// the check of an ordinary tick to one indexed read of the view.
pub fn may_fire(latest_accept: Option<&Gate>) -> bool {
    latest_accept.is_some_and(|g| g.status == loom_sdk::GateStatus::Approved)
}

/// Every violation in `s`, in rule order.
pub fn check(s: &State) -> Vec<Violation> {
    let mut out = Vec::new();
    no_blocking_at_accept(s, &mut out);
    human_decides_touched_tests(s, &mut out);
    review_covers_latest_diff(s, &mut out);
    out
}

fn gate_row(g: &Gate) -> String {
    format!("gate:{}", g.id)
}

/// The latest opening of `accept`, if it is approved: the one that lets the run finish.
fn approved_accept(s: &State) -> Option<&Gate> {
    s.latest_gate("accept")
        .filter(|g| g.status == loom_sdk::GateStatus::Approved)
}

fn no_blocking_at_accept(s: &State, out: &mut Vec<Violation>) {
    let Some(gate) = approved_accept(s) else {
        return;
    };
    let blocking: Vec<String> = s
        .open_findings()
        .into_iter()
        .filter(|(_, f)| f.is_open_blocking())
        .map(|(id, _)| id)
        .collect();
    if blocking.is_empty() {
        return;
    }
    let mut rows = vec![gate_row(gate)];
    rows.extend(blocking.iter().map(|id| format!("fact:finding/{id}")));
    out.push(Violation::new(
        NO_BLOCKING_AT_ACCEPT,
        format!(
            "the accept gate (#{}) was approved while blocking finding(s) {} are still open",
            gate.id,
            blocking.join(", ")
        ),
        rows,
    ));
}

fn human_decides_touched_tests(s: &State, out: &mut Vec<Violation>) {
    let tests: Vec<String> = s
        .touched()
        .into_iter()
        .filter(|(_, t)| *t)
        .map(|(p, _)| p)
        .collect();
    if tests.is_empty() {
        return;
    }
    for gate in s.approved("accept").filter(|g| g.decider != Decider::Human) {
        let by = gate.decided_by.as_deref().unwrap_or("unknown");
        let mut rows = vec![gate_row(gate)];
        rows.extend(tests.iter().map(|p| format!("fact:touched/{p}")));
        out.push(Violation::new(
            HUMAN_DECIDES_TOUCHED_TESTS,
            format!(
                "the accept gate (#{}) was approved by {} `{by}`, but the change touched test \
                 file(s) {}, so only a human may approve it",
                gate.id,
                gate.decider.as_str(),
                tests.join(", ")
            ),
            rows,
        ));
    }
}

fn review_covers_latest_diff(s: &State, out: &mut Vec<Violation>) {
    let Some(gate) = approved_accept(s) else {
        return;
    };
    let latest = s.diff().map(|d| d.hash);
    let reviewed = s.reviewed_diff();
    let message = match (&latest, &reviewed) {
        (Some(l), Some(r)) if l == r => return,
        (None, _) => format!(
            "the accept gate (#{}) was approved but no diff was ever applied",
            gate.id
        ),
        (Some(l), None) => {
            format!(
                "the accept gate (#{}) was approved but diff {l} was never reviewed",
                gate.id
            )
        }
        (Some(l), Some(r)) => format!(
            "the accept gate (#{}) was approved but the latest review saw diff {r}, not the \
             latest diff {l}",
            gate.id
        ),
    };
    out.push(Violation::new(
        REVIEW_COVERS_LATEST_DIFF,
        message,
        vec![
            gate_row(gate),
            "fact:diff/latest".into(),
            "fact:review/latest".into(),
        ],
    ));
}
