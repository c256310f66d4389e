//! Replaying many runs: one worker per core, each with its own read-only connection and its
//! own scratch databases, reused from run to run.
//!
//! Runs are independent (each is re-derived and re-executed in scratch databases of its own),
//! so they are replayed side by side. Reports come back in run order, and the first failing
//! run (in that order) is the error, as if they had been replayed one after another.

use crate::error::{EngineError, Result};
use crate::replay::{replay_run, ReplayOptions, RunReplay};
use loom_kernel::{KernelError, Store};
use loom_runtime::{Bundle, Invariants, Runtime};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Replays `ids` of the database at `db` (already open as `store`) with `workers` threads.
pub(crate) fn replay_runs(
    db: &Path,
    store: Store,
    ids: &[u64],
    shared: &Shared<'_>,
    workers: usize,
) -> Result<Vec<RunReplay>> {
    if workers <= 1 {
        let mut scratch = Scratch::default();
        return ids
            .iter()
            .map(|id| shared.replay_one(&store, *id, &mut scratch))
            .collect();
    }
    drop(store);
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<RunReplay>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    let store = match Store::open_read_only(db) {
                        Ok(s) => s,
                        // After every run's place: a run's own failure, if any, comes first.
                        Err(e) => return vec![(ids.len(), Err(e.into()))],
                    };
                    let mut scratch = Scratch::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(id) = ids.get(i) else { break };
                        let report = shared.replay_one(&store, *id, &mut scratch);
                        let failed = report.is_err();
                        out.push((i, report));
                        if failed {
                            break;
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![(
                        0,
                        Err(EngineError::Effect("a replay worker panicked".into())),
                    )]
                })
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(done.len());
    for (_, report) in done {
        out.push(report?);
    }
    Ok(out)
}

/// The in-memory databases one worker re-derives and re-executes in, emptied for each run
/// rather than built again: a new database costs its whole schema and a cold statement cache,
/// which was a fifth of replaying a run of 50 ticks.
#[derive(Default)]
struct Scratch {
    derive: Option<Store>,
    execute: Option<Store>,
}

/// The store left in `slot` by the previous run, or a new in-memory one for the first.
pub(crate) fn scratch_store(slot: &mut Option<Store>) -> Result<Store> {
    Ok(match slot.take() {
        Some(s) => s,
        None => Store::open_in_memory()?,
    })
}

/// What every run's replay shares: the runtime, the swapped-in rules, the loaded bundles.
pub(crate) struct Shared<'a> {
    pub(crate) runtime: &'a Runtime,
    pub(crate) swapped: Option<&'a Invariants>,
    pub(crate) loaded: &'a HashMap<String, Arc<Bundle>>,
    pub(crate) opts: &'a ReplayOptions,
}

impl Shared<'_> {
    /// Re-derives run `id` (evaluating the swapped-in rules) and, unless `--only`,
    /// re-executes it with its bundle.
    fn replay_one(&self, store: &Store, id: u64, scratch: &mut Scratch) -> Result<RunReplay> {
        let opts = self.opts;
        let derive = &mut scratch.derive;
        let mut report = match self.swapped {
            Some(s) => replay_run(store, id, &[("invariants", s)], opts.ticks, derive)?,
            None => replay_run(store, id, &[], opts.ticks, derive)?,
        };
        if opts.only {
            return Ok(report);
        }
        let started = Instant::now();
        let key = bundle_key(store, id, opts)?;
        let bundle = self.loaded.get(&key).cloned().ok_or_else(|| {
            KernelError::Corrupt(format!("the bundle of run #{id} was not loaded"))
        })?;
        // Two checks, the earlier finding wins: re-executing the bundle reproduces the
        // chain from the recorded inputs; re-deriving each tick from its change list
        // (above) also catches stored rows that no longer match the chain.
        let rerun = crate::reexecute::reexecute(
            store,
            id,
            self.runtime,
            bundle,
            opts,
            &mut scratch.execute,
        )?;
        report.divergence = match (report.divergence.take(), rerun) {
            (Some(a), Some(b)) => Some(if a.seq < b.seq { a } else { b }),
            (a, b) => a.or(b),
        };
        report.replayed_ticks = match &report.divergence {
            Some(d) => d.seq as usize - 1,
            None => report.recorded_ticks,
        };
        report.identical = report.divergence.is_none();
        report.millis += started.elapsed().as_millis() as u64;
        let differs_at = report.divergence.as_ref().map(|d| d.seq);
        for t in &mut report.ticks {
            t.reproduced = match differs_at {
                None => Some(true),
                Some(d) if t.seq < d => Some(true),
                Some(d) if t.seq == d => Some(false),
                Some(_) => None,
            };
        }
        Ok(report)
    }
}

/// Which loaded bundle re-executes run `id`: the one passed in, or the one it recorded.
pub(crate) fn bundle_key(store: &Store, id: u64, opts: &ReplayOptions) -> Result<String> {
    Ok(match &opts.bundle {
        Some(_) => String::new(),
        None => store.run(id)?.bundle_hash,
    })
}
