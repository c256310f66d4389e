//! What a dashboard shows of a run, read in one go on one read-only connection: a page of
//! its timeline with each tick's ledger rows opened up (the rendered prompt, the reply, the
//! diff, the command's output, each failed provider call), and what its effects cost.
//!
//! A ledger row's request and result are the engine's own JSON (see the engine's
//! `effects`); they are decoded here, once, so no transport parses them itself. A field
//! that is missing or of another shape is simply not shown: an older or damaged row still
//! renders with its summary.

use loom_kernel::{Fact, Gate, LedgerRow, Run, Store, TickRow, ViolationRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Ticks one timeline page holds at most.
pub const PAGE_TICKS_MAX: usize = 1000;

/// Tokens and cost of a run's effects so far, summed from their ledger rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Sum of the rows that name a cost; `None` when none does (a scripted or unpriced
    /// model), which is not the same as free.
    pub cost_usd: Option<f64>,
    /// Ledger rows (effect attempts) counted.
    pub effects: usize,
}

/// The fields of a ledger row's meta that count towards [`Usage`]; the rest is skipped
/// unparsed (a long run has one per effect, and every page view sums them all).
#[derive(Default, Deserialize)]
struct MetaUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cost_usd: Option<f64>,
}

impl Usage {
    fn add(&mut self, meta: &str) {
        // A meta that is not an object with these fields (an old or damaged row) counts as
        // an effect that used nothing known.
        let m: MetaUsage = serde_json::from_str(meta).unwrap_or_default();
        self.effects += 1;
        self.input_tokens += m.input_tokens.unwrap_or(0);
        self.output_tokens += m.output_tokens.unwrap_or(0);
        if let Some(c) = m.cost_usd {
            *self.cost_usd.get_or_insert(0.0) += c;
        }
    }

    pub fn of(ledger: &[LedgerRow]) -> Usage {
        let mut u = Usage::default();
        for l in ledger {
            u.add(&l.meta);
        }
        u
    }
}

/// One run as the runs list shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run: Run,
    pub title: String,
    /// Time of its newest tick (the run's `created_ms` when it has none).
    pub last_ms: u64,
    pub usage: Usage,
}

/// A provider call that failed inside an effect (one try of a fallback chain, say).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedCall {
    pub provider: String,
    pub model: String,
    pub outcome: String,
    pub message: String,
}

/// One ledger row with what its request and result hold.
#[derive(Clone, Debug, Serialize)]
pub struct RowDetail {
    pub row: LedgerRow,
    pub role: Option<String>,
    pub prompt: Option<String>,
    pub reply: Option<String>,
    /// The unified diff an `apply-diff` effect applied (or tried to).
    pub diff: Option<String>,
    pub diff_error: Option<String>,
    pub command: Option<String>,
    pub exit_code: Option<i64>,
    pub output_tail: Option<String>,
    pub failed_calls: Vec<FailedCall>,
    pub usage: Usage,
}

/// A tick with its ledger rows opened up.
#[derive(Clone, Debug, Serialize)]
pub struct TickDetail {
    pub tick: TickRow,
    pub rows: Vec<RowDetail>,
}

/// A window of a run's timeline, oldest first.
#[derive(Clone, Debug, Serialize)]
pub struct TickPage {
    pub run: Run,
    pub ticks: Vec<TickDetail>,
    /// The `before` of the next older page; `None` when this page starts at tick 1.
    pub older: Option<u64>,
    /// Whether this page ends at the run's newest tick (live ticks append to it).
    pub newest: bool,
    pub usage: Usage,
    /// The title of the run's task.
    pub title: String,
    /// Every gate of the run, oldest first.
    pub gates: Vec<Gate>,
    pub facts: Vec<Fact>,
    pub violations: Vec<ViolationRow>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Opens up `row`: its request blob and its stored result.
pub(crate) fn row_detail(store: &Store, row: &LedgerRow) -> loom_kernel::Result<RowDetail> {
    let request: Value = match &row.request_hash {
        Some(h) => store
            .blob(h)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let result: Value = store
        .result(row.run_id, &row.key, row.attempt)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let meta: Value = serde_json::from_str(&row.meta).unwrap_or(Value::Null);
    let failed_calls = meta["attempts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|t| t["outcome"].as_str().is_some_and(|o| o != "ok"))
                .map(|t| FailedCall {
                    provider: text(&t["provider"]).unwrap_or_default(),
                    model: text(&t["model"]).unwrap_or_default(),
                    outcome: text(&t["outcome"]).unwrap_or_default(),
                    message: text(&t["message"]).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut usage = Usage::default();
    usage.add(&row.meta);
    let diff = &result["diff"];
    let command = &result["command"];
    Ok(RowDetail {
        role: text(&request["role"]).or_else(|| text(&meta["role"])),
        prompt: text(&request["prompt"]),
        reply: text(&result["agent"]["text"]),
        diff: text(&request["diff"]),
        diff_error: text(&diff["error"]),
        command: text(&request["command"]).or_else(|| text(&meta["command"])),
        exit_code: command["exit_code"]
            .as_i64()
            .or_else(|| meta["exit_code"].as_i64()),
        output_tail: text(&command["output_tail"]),
        failed_calls,
        usage,
        row: row.clone(),
    })
}

/// The page of `run`'s timeline that ends just before tick `before` (default: its newest
/// tick), at most `limit` ticks.
pub(crate) fn tick_page(
    store: &Store,
    run: u64,
    before: Option<u64>,
    limit: usize,
) -> loom_kernel::Result<TickPage> {
    let run = store.run(run)?;
    let limit = limit.clamp(1, PAGE_TICKS_MAX);
    let end = before
        .map_or(run.last_seq, |b| b.saturating_sub(1))
        .min(run.last_seq);
    let first = end.saturating_sub(limit as u64 - 1).max(1);
    let after = ((run.id << 32) | first) as i64 - 1;
    let rows = if end >= first {
        store.ticks_after(after, (end + 1 - first) as u32)?
    } else {
        Vec::new()
    };
    let ledger = store.ledger(run.id)?;
    let usage = Usage::of(&ledger);
    let mut ticks = Vec::with_capacity(rows.len());
    for tick in rows.into_iter().filter(|t| t.run_id == run.id) {
        // Rows are ordered by seq: the ones of this tick are one contiguous stretch.
        let start = ledger.partition_point(|l| l.seq < tick.seq);
        let mut details = Vec::new();
        for l in ledger[start..].iter().take_while(|l| l.seq == tick.seq) {
            details.push(row_detail(store, l)?);
        }
        ticks.push(TickDetail {
            tick,
            rows: details,
        });
    }
    Ok(TickPage {
        older: (first > 1).then_some(first),
        newest: end == run.last_seq,
        title: store
            .task(run.task_id)?
            .map(|t| t.title)
            .unwrap_or_default(),
        gates: store.gates(run.id)?,
        facts: store.facts(run.id)?,
        violations: store.violations(run.id)?,
        run,
        ticks,
        usage,
    })
}

/// Every run, newest first, with its title, last activity and cost.
pub(crate) fn run_summaries(store: &Store) -> loom_kernel::Result<Vec<RunSummary>> {
    let mut out = Vec::new();
    for run in store.runs()?.into_iter().rev() {
        let title = store
            .task(run.task_id)?
            .map(|t| t.title)
            .unwrap_or_default();
        let last = ((run.id << 32) | run.last_seq) as i64;
        let last_ms = store
            .ticks_after(last - 1, 1)?
            .pop()
            .filter(|t| t.run_id == run.id)
            .map_or(run.created_ms, |t| t.unix_ms);
        let usage = Usage::of(&store.ledger(run.id)?);
        out.push(RunSummary {
            run,
            title,
            last_ms,
            usage,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;
