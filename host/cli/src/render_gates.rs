//! How a gate is shown: a pending one with who is to decide it and how, a decided one with
//! its verdict, who decided, through which transport and when.

use crate::color::{self, Style};
use anyhow::Result;
use loom_kernel::{Decider, Gate, GateStatus, Store};
use std::collections::BTreeMap;

fn a(decider: Decider) -> &'static str {
    decider.with_article()
}

/// One gate; `decided_ms` is when a decided one was decided, if known.
pub fn block(g: &Gate, decided_ms: Option<u64>) {
    let shown = &g.shown_hash[..g.shown_hash.len().min(12)];
    let status = g.status.as_str();
    let painted = color::paint(color::of_status(status).unwrap_or(Style::Bold), status);
    match g.status {
        GateStatus::Pending => outln!(
            "  gate {} (id {}, risk {}) {painted}: for {} to decide, shown {shown}",
            color::paint(Style::Bold, &g.name),
            g.id,
            g.risk,
            a(g.decider),
        ),
        GateStatus::Approved | GateStatus::Rejected => {
            let by = g.decided_by.as_deref().unwrap_or("?");
            let via = g
                .transport
                .as_deref()
                .map(|t| format!(" via {t}"))
                .unwrap_or_default();
            let when = match (decided_ms, g.decided_tick) {
                (Some(ms), Some(t)) => {
                    format!(" at {} UTC (tick {t})", loom_http::web::utc_time(ms))
                }
                (None, Some(t)) => format!(" at tick {t}"),
                _ => String::new(),
            };
            // The decider is said only when the name does not say it already ("rule").
            let who = if by == g.decider.as_str() {
                by.to_owned()
            } else {
                format!("{by} ({})", a(g.decider))
            };
            outln!(
                "  gate {} (id {}, risk {}) {painted} by {who}{via}{when}, shown {shown}",
                color::paint(Style::Bold, &g.name),
                g.id,
                g.risk,
            );
            if let Some(note) = g.note.as_deref().filter(|n| !n.trim().is_empty()) {
                outln!("  note: {}", note.lines().next().unwrap_or(""));
            }
        }
    }
    for line in g.summary.lines() {
        outln!("  | {line}");
    }
    if g.status == GateStatus::Pending && g.decider == Decider::Human {
        outln!(
            "  approve: loom approve {}    reject: loom reject {} --reason \"…\"",
            g.name,
            g.name
        );
    }
}

/// `loom gates [--all]`.
pub fn gates(store: &Store, gates: &[Gate], all: bool) -> Result<()> {
    if gates.is_empty() {
        outln!(
            "{}",
            if all {
                "no gates in the current run"
            } else {
                "no gates waiting"
            }
        );
        return Ok(());
    }
    // When each decision was taken: the time of the tick that recorded it.
    let mut when: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for g in gates {
        if let Some(t) = g.decided_tick {
            let id = ((g.run_id << 32) | t) as i64;
            let tick = store
                .ticks_after(id - 1, 1)
                .map_err(loom_engine::EngineError::from)?
                .pop()
                .filter(|r| r.run_id == g.run_id && r.seq == t);
            if let Some(r) = tick {
                when.insert((g.run_id, t), r.unix_ms);
            }
        }
    }
    for g in gates {
        let ms = g
            .decided_tick
            .and_then(|t| when.get(&(g.run_id, t)).copied());
        block(g, ms);
        outln!();
    }
    Ok(())
}
