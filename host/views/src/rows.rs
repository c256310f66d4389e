//! The kernel's rows as they are shown: field for field the stored row, with JSON text as
//! JSON and enums in their one spelling.

use crate::{
    changes_value, json_text, Decider, GateStatus, LedgerStatus, Risk, RunStatus, TaskStatus,
    TickKind,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One committed tick of a run's chain.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Tick {
    pub run_id: u64,
    pub seq: u64,
    /// The tick's one timestamp (Unix ms), minted once and replayed as recorded.
    pub unix_ms: u64,
    pub kind: TickKind,
    pub step: Option<String>,
    pub decider: Option<String>,
    pub summary: String,
    /// The writes the tick made, in order, as recorded (and hashed): a list of objects
    /// tagged by `op`.
    pub changes: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&loom_kernel::TickRow> for Tick {
    fn from(t: &loom_kernel::TickRow) -> Tick {
        Tick {
            run_id: t.run_id,
            seq: t.seq,
            unix_ms: t.unix_ms,
            kind: t.kind.into(),
            step: t.step.clone(),
            decider: t.decider.clone(),
            summary: t.summary.clone(),
            changes: changes_value(&t.changes),
            prev_hash: t.prev_hash.clone(),
            hash: t.hash.clone(),
        }
    }
}

/// One attempt at an effect: its intent, then its result.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LedgerRow {
    pub key: String,
    pub attempt: u32,
    pub run_id: u64,
    pub seq: u64,
    pub step: String,
    /// What the effect is (`agent`, `command`, `patch`, …).
    pub kind: String,
    pub retry_safe: bool,
    pub status: LedgerStatus,
    /// SHA-256 of the rendered request (a blob: `GET /api/v1/blobs/{hash}`).
    pub request_hash: Option<String>,
    /// SHA-256 of the stored result.
    pub result_hash: Option<String>,
    pub summary: String,
    /// What the effect reported: backend, model, tokens, cost, latency, the provider calls
    /// tried (`attempts`).
    pub meta: Value,
    pub intent_ms: u64,
    pub result_ms: Option<u64>,
}

impl From<&loom_kernel::LedgerRow> for LedgerRow {
    fn from(l: &loom_kernel::LedgerRow) -> LedgerRow {
        LedgerRow {
            key: l.key.clone(),
            attempt: l.attempt,
            run_id: l.run_id,
            seq: l.seq,
            step: l.step.clone(),
            kind: l.kind.clone(),
            retry_safe: l.retry_safe,
            status: l.status.into(),
            request_hash: l.request_hash.clone(),
            result_hash: l.result_hash.clone(),
            summary: l.summary.clone(),
            meta: json_text(&l.meta),
            intent_ms: l.intent_ms,
            result_ms: l.result_ms,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Task {
    pub id: u64,
    pub title: String,
    pub status: TaskStatus,
    pub created_ms: u64,
}

impl From<&loom_kernel::Task> for Task {
    fn from(t: &loom_kernel::Task) -> Task {
        Task {
            id: t.id,
            title: t.title.clone(),
            status: t.status.into(),
            created_ms: t.created_ms,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Run {
    pub id: u64,
    pub task_id: u64,
    pub bundle_name: String,
    pub bundle_version: String,
    pub bundle_hash: String,
    pub status: RunStatus,
    pub phase: String,
    /// The bundle's settings, frozen at the run's start.
    pub settings: Value,
    pub stop_reason: Option<String>,
    pub created_ms: u64,
    /// The seq of the run's newest tick (its number of ticks).
    pub last_seq: u64,
    /// The engine's options for this run (`format`, caps).
    pub options: Value,
}

impl From<&loom_kernel::Run> for Run {
    fn from(r: &loom_kernel::Run) -> Run {
        Run {
            id: r.id,
            task_id: r.task_id,
            bundle_name: r.bundle_name.clone(),
            bundle_version: r.bundle_version.clone(),
            bundle_hash: r.bundle_hash.clone(),
            status: r.status.into(),
            phase: r.phase.clone(),
            settings: json_text(&r.settings),
            stop_reason: r.stop_reason.clone(),
            created_ms: r.created_ms,
            last_seq: r.last_seq,
            options: json_text(&r.options),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Gate {
    /// The seq of the tick that opened it: unique within a run.
    pub id: u64,
    pub run_id: u64,
    pub name: String,
    pub status: GateStatus,
    pub decider: Decider,
    pub risk: Risk,
    /// Exactly what the decider is shown.
    pub summary: String,
    /// SHA-256 of `summary`: a decision names it, and is refused if the gate shows other
    /// content by then.
    pub shown_hash: String,
    pub opened_tick: u64,
    pub decided_tick: Option<u64>,
    pub decided_by: Option<String>,
    pub transport: Option<String>,
    pub note: Option<String>,
}

impl From<&loom_kernel::Gate> for Gate {
    fn from(g: &loom_kernel::Gate) -> Gate {
        Gate {
            id: g.id,
            run_id: g.run_id,
            name: g.name.clone(),
            status: g.status.into(),
            decider: g.decider.into(),
            risk: g.risk.into(),
            summary: g.summary.clone(),
            shown_hash: g.shown_hash.clone(),
            opened_tick: g.opened_tick,
            decided_tick: g.decided_tick,
            decided_by: g.decided_by.clone(),
            transport: g.transport.clone(),
            note: g.note.clone(),
        }
    }
}

/// A record a bundle keeps (a finding, a plan, …).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Fact {
    pub kind: String,
    pub key: String,
    pub value: Value,
    /// The seq of the tick that wrote it.
    pub tick: u64,
}

impl From<&loom_kernel::Fact> for Fact {
    fn from(f: &loom_kernel::Fact) -> Fact {
        Fact {
            kind: f.kind.clone(),
            key: f.key.clone(),
            value: json_text(&f.value),
            tick: f.tick,
        }
    }
}

/// A rule that refused a tick, and the rows it named.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Violation {
    pub run_id: u64,
    pub seq: u64,
    pub unix_ms: u64,
    pub step: Option<String>,
    pub rule: String,
    pub message: String,
    pub rows: Vec<String>,
}

impl From<&loom_kernel::ViolationRow> for Violation {
    fn from(v: &loom_kernel::ViolationRow) -> Violation {
        Violation {
            run_id: v.run_id,
            seq: v.seq,
            unix_ms: v.unix_ms,
            step: v.step.clone(),
            rule: v.rule.clone(),
            message: v.message.clone(),
            rows: v.rows.clone(),
        }
    }
}

/// Views of a list of rows.
pub(crate) fn all<'a, T: 'a, V: From<&'a T>>(rows: &'a [T]) -> Vec<V> {
    rows.iter().map(V::from).collect()
}
