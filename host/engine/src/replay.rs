//! `loom replay`: re-execute recorded runs from a read-only database, and evaluate swapped-in
//! rules at every recorded commit point. No provider, command or patch runs; the project's
//! database is never written (the re-execution happens in a scratch database in memory).

use crate::error::Result;
use crate::replay_workers::bundle_key;
use crate::Config;
use loom_kernel::{first_difference, KernelError, Replay, Rules, Store};
use loom_runtime::{Bundle, Limits, Runtime};
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What to replay with.
#[derive(Default)]
pub struct ReplayOptions {
    /// A component of the `invariants` world, evaluated at every tick's commit point.
    pub invariants: Option<Vec<u8>>,
    /// Only evaluate `invariants` on the recorded trajectory; do not re-execute the run's
    /// bundle (for when it is not available).
    pub only: bool,
    /// Re-execute with this bundle instead of the one each run recorded.
    pub bundle: Option<Vec<u8>>,
    /// Report every tick, not only the first difference and the first firings.
    pub ticks: bool,
    /// How many runs to replay at once; `None`: one per core.
    pub jobs: Option<usize>,
    /// The project's configuration (its `max_ticks`, its commands), when replaying in one.
    pub config: Option<Config>,
    pub root: Option<PathBuf>,
}

/// Which runs.
pub enum Runs {
    One(u64),
    /// The newest run.
    Latest,
    /// Every run, or every run from this id on.
    All {
        since: Option<u64>,
    },
}

/// The first tick where the replay departs from the recording.
#[derive(Debug, Serialize)]
pub struct Divergence {
    pub seq: u64,
    pub step: Option<String>,
    /// Which part of the tick differs (`change 2`, `summary`, `prev_hash`, …), or
    /// `cannot be applied` when the recorded inputs no longer produce a tick at all.
    pub what: String,
    pub recorded: String,
    pub replayed: String,
}

/// The first tick at which one rule fired.
#[derive(Debug, Serialize)]
pub struct Firing {
    /// `bundle` (the run's own rules) or `invariants` (the swapped-in component).
    pub source: String,
    pub seq: u64,
    pub step: Option<String>,
    pub rule: String,
    pub message: String,
    pub rows: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RunReplay {
    pub run: u64,
    pub task: u64,
    pub title: String,
    pub recorded_ticks: usize,
    pub replayed_ticks: usize,
    pub identical: bool,
    pub divergence: Option<Divergence>,
    pub firings: Vec<Firing>,
    /// Rules that could not be evaluated (trap, exhausted fuel), with the tick.
    pub faults: Vec<String>,
    pub millis: u64,
    /// Tick by tick, when asked for (`--ticks`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ticks: Vec<TickVerdict>,
}

/// One recorded tick and what replaying it found.
#[derive(Debug, Serialize)]
pub struct TickVerdict {
    pub seq: u64,
    pub unix_ms: u64,
    pub kind: String,
    pub step: Option<String>,
    pub decider: Option<String>,
    pub summary: String,
    /// The ledger rows (key and attempt) committed in this tick.
    pub ledger: Vec<String>,
    /// Whether re-executing reproduced it; `None` when the replay stopped before it.
    pub reproduced: Option<bool>,
    /// The rules that fire on the state this tick committed.
    pub fired: Vec<String>,
}

/// Replays `runs` of the database at `db`, opened read-only (a project's `.loom/loom.db`
/// or a copy of one).
pub fn replay(db: &Path, runs: Runs, opts: &ReplayOptions) -> Result<Vec<RunReplay>> {
    if !db.is_file() {
        return Err(KernelError::Corrupt(format!(
            "no database at {}; run inside a loom project or pass --db",
            db.display()
        ))
        .into());
    }
    let store = Store::open_read_only(db)?;
    // Every component here is compiled through the project's cache (`.loom/cache`), so a
    // large (Python, JavaScript) invariants component or bundle compiles once, not per
    // replay; where the cache cannot be made (a read-only copy), without it.
    let cache = opts
        .root
        .as_ref()
        .map(|r| r.join(crate::project::DIR).join("cache"));
    let runtime = match Runtime::new(Limits::default(), cache.clone()) {
        Ok(r) => r,
        Err(_) => Runtime::new(Limits::default(), None)?,
    };
    let swapped = match &opts.invariants {
        Some(wasm) => Some(runtime.load_invariants(wasm)?),
        None => None,
    };
    let ids: Vec<u64> = match runs {
        Runs::One(id) => vec![store.run(id)?.id],
        Runs::Latest => store.runs()?.last().map(|r| r.id).into_iter().collect(),
        Runs::All { since } => store
            .runs()?
            .into_iter()
            .map(|r| r.id)
            .filter(|id| since.is_none_or(|s| *id >= s))
            .collect(),
    };
    // Every bundle is loaded (compiled or read from the cache) once, before any run is
    // replayed: `--all` over many runs of one bundle compiles and links it once, however many
    // threads share it.
    let mut loaded: HashMap<String, Arc<Bundle>> = HashMap::new();
    if !opts.only {
        for id in &ids {
            if let Entry::Vacant(slot) = loaded.entry(bundle_key(&store, *id, opts)?) {
                let wasm = match &opts.bundle {
                    Some(w) => w.clone(),
                    None => bundle_wasm(&store, *id)?,
                };
                slot.insert(Arc::new(runtime.load_bundle(&wasm)?));
            }
        }
    }
    let shared = crate::replay_workers::Shared {
        runtime: &runtime,
        swapped: swapped.as_ref(),
        loaded: &loaded,
        opts,
    };
    let workers = opts
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(ids.len());
    crate::replay_workers::replay_runs(db, store, &ids, &shared, workers)
}

fn bundle_wasm(store: &Store, run: u64) -> Result<Vec<u8>> {
    let hash = store.run(run)?.bundle_hash;
    Ok(store.blob(&hash)?.ok_or_else(|| {
        KernelError::Corrupt(format!(
            "the bundle of run #{run} ({hash}) is missing from the database; pass --bundle, or \
             --only with --invariants to replay without it"
        ))
    })?)
}

pub(crate) fn replay_run(
    store: &Store,
    id: u64,
    sets: &[(&str, &dyn Rules)],
    per_tick: bool,
    scratch: &mut Option<Store>,
) -> Result<RunReplay> {
    let started = Instant::now();
    let db = crate::replay_workers::scratch_store(scratch)?;
    let mut replay = Replay::with_scratch(store, id, db)?;
    let run = replay.run().clone();
    let task = store.task(run.task_id)?;
    let mut report = RunReplay {
        run: id,
        task: run.task_id,
        title: task.map(|t| t.title).unwrap_or_default(),
        recorded_ticks: replay.len(),
        replayed_ticks: 0,
        identical: false,
        divergence: None,
        firings: Vec::new(),
        faults: Vec::new(),
        millis: 0,
        ticks: Vec::new(),
    };
    let ledger = if per_tick {
        store.ledger(id)?
    } else {
        Vec::new()
    };
    let rules: Vec<&dyn Rules> = sets.iter().map(|(_, r)| *r).collect();
    loop {
        let seq = report.replayed_ticks as u64 + 1;
        let stepped = match replay.step(&rules) {
            Ok(Some(s)) => s,
            Ok(None) => break,
            Err(e) => {
                report.divergence = Some(Divergence {
                    seq,
                    step: None,
                    what: "cannot be applied".into(),
                    recorded: "the recorded tick".into(),
                    replayed: e.to_string(),
                });
                break;
            }
        };
        report.replayed_ticks += 1;
        let step = stepped.recorded.step.clone();
        if per_tick {
            let r = &stepped.recorded;
            let fired = stepped
                .verdicts
                .iter()
                .flat_map(|v| v.iter().flatten().map(|v| v.rule.clone()))
                .collect();
            report.ticks.push(TickVerdict {
                seq: r.seq,
                unix_ms: r.unix_ms,
                kind: r.kind.as_str().into(),
                step: r.step.clone(),
                decider: r.decider.clone(),
                summary: r.summary.clone(),
                ledger: ledger
                    .iter()
                    .filter(|l| l.seq == r.seq)
                    .map(|l| format!("{} attempt {} {}", l.key, l.attempt, l.status.as_str()))
                    .collect(),
                reproduced: None,
                fired,
            });
        }
        for ((source, _), verdict) in sets.iter().zip(&stepped.verdicts) {
            match verdict {
                Ok(violations) => {
                    for v in violations {
                        let seen = report
                            .firings
                            .iter()
                            .any(|f| f.source == *source && f.rule == v.rule);
                        if !seen {
                            report.firings.push(Firing {
                                source: (*source).into(),
                                seq: stepped.recorded.seq,
                                step: step.clone(),
                                rule: v.rule.clone(),
                                message: v.message.clone(),
                                rows: v.rows.clone(),
                            });
                        }
                    }
                }
                Err(fault) => report.faults.push(format!(
                    "{source} rules at tick {}: {fault}",
                    stepped.recorded.seq
                )),
            }
        }
        if let Some((what, recorded, replayed)) =
            first_difference(&stepped.recorded, &stepped.replayed)
        {
            report.divergence = Some(Divergence {
                seq: stepped.recorded.seq,
                step,
                what,
                recorded,
                replayed,
            });
            break;
        }
    }
    *scratch = Some(replay.into_scratch());
    report.identical =
        report.divergence.is_none() && report.replayed_ticks == report.recorded_ticks;
    report.millis = started.elapsed().as_millis() as u64;
    Ok(report)
}
