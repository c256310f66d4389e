//! Reading a project: what every transport shows. These take any [`Store`], so a transport
//! reads on a read-only connection of its own and never queues behind the driver's work.

use crate::error::{EngineError, Result};
use loom_kernel::{Fact, Gate, LedgerRow, LedgerStatus, Run, Store, Task, TickRow, ViolationRow};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Status {
    pub task: Option<Task>,
    pub run: Option<Run>,
    pub pending_gates: Vec<Gate>,
    /// The process driving the project right now, if any (another one than the asker).
    pub driver: Option<crate::lock::Holder>,
    /// Effects the live driver is performing now.
    pub in_flight: Vec<LedgerRow>,
    /// Effects started but never recorded as finished, and not yet retried, with no driver
    /// alive: they may or may not have happened.
    pub uncertain: Vec<LedgerRow>,
    pub violations: Vec<ViolationRow>,
    pub facts: Vec<Fact>,
    /// Why the run stopped, typed (runs of format 2 on), when it is stopped.
    pub stop: Option<crate::Stop>,
}

#[derive(Debug, Serialize)]
pub struct LogEntry {
    pub tick: TickRow,
    pub ledger: Vec<LedgerRow>,
}

/// The run of the open task (or, with none open, the newest run).
pub fn current_run(store: &Store) -> Result<Option<Run>> {
    // The newest rows by key: a status costs the same with 10 runs or 10,000.
    let task = store.open_task()?.map(|t| t.id);
    if task.is_some() {
        return Ok(store.last_run(task)?);
    }
    Ok(store.last_run(None)?)
}

/// Pending gates of the open run (all gates with `all`).
pub fn gates(store: &Store, all: bool) -> Result<Vec<Gate>> {
    let Some(run) = current_run(store)? else {
        return Ok(Vec::new());
    };
    Ok(match all {
        true => store.gates(run.id)?,
        false => store.pending_gates(run.id)?,
    })
}

pub fn status(store: &Store) -> Result<Status> {
    let task = store.open_task()?;
    let run = current_run(store)?;
    let (pending_gates, uncertain, violations, facts): (_, Vec<LedgerRow>, _, _) = match &run {
        Some(r) => {
            let ledger = store.ledger(r.id)?;
            let uncertain = ledger
                .iter()
                .filter(|l| l.status == LedgerStatus::Intent)
                .filter(|l| {
                    !ledger
                        .iter()
                        .any(|o| o.key == l.key && o.attempt > l.attempt)
                })
                .cloned()
                .collect();
            let pending = store.pending_gates(r.id)?;
            (
                pending,
                uncertain,
                store.violations(r.id)?,
                store.facts(r.id)?,
            )
        }
        None => Default::default(),
    };
    let stop = match &run {
        Some(r) if r.status == loom_kernel::RunStatus::Stopped => last_stop(store, r)?,
        _ => None,
    };
    Ok(Status {
        task,
        run,
        pending_gates,
        stop,
        driver: None,
        in_flight: Vec::new(),
        uncertain,
        violations,
        facts,
    })
}

/// The typed stop of `run`'s last tick, if it recorded one.
pub fn last_stop(store: &Store, run: &Run) -> Result<Option<crate::Stop>> {
    let id = ((run.id << 32) | run.last_seq) as i64;
    let Some(tick) = store.ticks_after(id - 1, 1)?.pop() else {
        return Ok(None);
    };
    let writes: Vec<loom_kernel::Write> = serde_json::from_str(&tick.changes).map_err(|e| {
        loom_kernel::KernelError::Corrupt(format!("tick {} of run #{}: {e}", tick.seq, run.id))
    })?;
    Ok(writes.into_iter().find_map(|w| match w {
        loom_kernel::Write::RunStatus { code: Some(c), .. } => crate::Stop::parse(&c),
        _ => None,
    }))
}

/// Names the live driver in `s` (when the asker is not it): its effects are in flight, not
/// uncertain.
pub fn with_driver(s: &mut Status, root: &Path) {
    s.driver = crate::lock::holder(root);
    if s.driver.is_some() {
        s.in_flight = std::mem::take(&mut s.uncertain);
    }
}

/// The tick timeline of `run` (default: the current one) with each tick's ledger rows.
pub fn log(store: &Store, run: Option<u64>) -> Result<Vec<LogEntry>> {
    let run = match run {
        Some(r) => store.run(r)?,
        None => current_run(store)?.ok_or_else(|| {
            EngineError::Usage("no runs yet; start one with `loom run \"…\"`".into())
        })?,
    };
    let ledger = store.ledger(run.id)?;
    Ok(store
        .ticks(run.id)?
        .into_iter()
        .map(|tick| LogEntry {
            ledger: ledger
                .iter()
                .filter(|l| l.seq == tick.seq)
                .cloned()
                .collect(),
            tick,
        })
        .collect())
}

/// The result of walking one run's hash chain.
#[derive(Debug, Serialize)]
pub struct ChainReport {
    pub run: u64,
    pub ticks: usize,
    pub broken: Option<loom_kernel::ChainBreak>,
    /// For a fork: its parent and fork point. Its ticks up to there are checked to be the
    /// parent's, and the parent's tick there to have the hash the fork recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fork: Option<loom_kernel::ForkOrigin>,
}

/// A run's family tree: the run it was forked from, and the runs forked from it.
#[derive(Debug, Default, Serialize)]
pub struct Family {
    /// The parent and fork point, if the run is a fork.
    pub parent: Option<loom_kernel::ForkOrigin>,
    /// Each fork of the run: (its run id, the parent's tick it was forked after).
    pub children: Vec<(u64, u64)>,
}

/// Where `run` sits among forks. Reads tick 1 of every run (one key lookup each).
pub fn family(store: &Store, run: u64) -> Result<Family> {
    let mut family = Family::default();
    for first in store.first_ticks()? {
        let Some(origin) = loom_kernel::ForkOrigin::of(&first)? else {
            continue;
        };
        if first.run_id == run {
            family.parent = Some(origin);
        } else if origin.run == run {
            family.children.push((first.run_id, origin.at));
        }
    }
    Ok(family)
}

/// Walks the hash chain of `run`, or of every run in the project.
pub fn verify(store: &Store, run: Option<u64>) -> Result<Vec<ChainReport>> {
    let runs = match run {
        Some(r) => vec![store.run(r)?],
        None => store.runs()?,
    };
    runs.into_iter()
        .map(|r| {
            let ticks = store.ticks(r.id)?;
            let mut broken = loom_kernel::verify_chain(&ticks).err();
            let fork = match ticks.first() {
                Some(t) => loom_kernel::ForkOrigin::of(t)?,
                None => None,
            };
            if let (None, Some(origin)) = (&broken, &fork) {
                let parent = store.ticks(origin.run)?;
                broken = crate::fork_prefix::prefix_break(&parent, &ticks, origin);
            }
            Ok(ChainReport {
                run: r.id,
                ticks: ticks.len(),
                broken,
                fork,
            })
        })
        .collect()
}

/// One page of `run`'s timeline: at most `limit` ticks after seq `since`, each with its
/// ledger rows. Reads only the page's ticks (a run may have thousands).
pub fn log_page(store: &Store, run: u64, since: u64, limit: u32) -> Result<Vec<LogEntry>> {
    let run = store.run(run)?;
    // A tick's id is `run << 32 | seq`, so the run's ticks are one contiguous id range.
    let after = ((run.id << 32) | since.min(u64::from(u32::MAX))) as i64;
    let ticks: Vec<TickRow> = store
        .ticks_after(after, limit)?
        .into_iter()
        .take_while(|t| t.run_id == run.id)
        .collect();
    let ledger = match (ticks.first(), ticks.last()) {
        (Some(first), Some(last)) => {
            store.ledger_between(run.id, first.seq.saturating_sub(1), last.seq)?
        }
        _ => Vec::new(),
    };
    Ok(ticks
        .into_iter()
        .map(|tick| LogEntry {
            ledger: ledger
                .iter()
                .filter(|l| l.seq == tick.seq)
                .cloned()
                .collect(),
            tick,
        })
        .collect())
}

/// The gates run `run`'s bundle marks editable (a person may approve them with edits), read
/// from the bundle the run recorded. Loading it compiles through the project's cache
/// (`.loom/cache`), so this is cheap once the engine has loaded that bundle.
pub fn editable_gates(root: &Path, store: &Store, run: u64) -> Result<Vec<String>> {
    use loom_runtime::{Limits, Runtime};
    let hash = store.run(run)?.bundle_hash;
    let wasm = store.blob(&hash)?.ok_or_else(|| {
        loom_kernel::KernelError::Corrupt(format!(
            "the bundle of run #{run} ({hash}) is missing from the database"
        ))
    })?;
    let cache = root.join(crate::project::DIR).join("cache");
    let runtime = match Runtime::new(Limits::default(), Some(cache)) {
        Ok(r) => r,
        Err(_) => Runtime::new(Limits::default(), None)?,
    };
    let bundle = runtime.load_bundle(&wasm)?;
    Ok(bundle
        .manifest()
        .gates
        .iter()
        .filter(|g| g.editable)
        .map(|g| g.name.clone())
        .collect())
}
