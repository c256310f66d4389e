//! `loom replay`: re-derive recorded runs from a read-only database and evaluate rules at
//! every recorded commit point. No provider, command or patch runs; nothing is written.

use crate::error::Result;
use loom_kernel::{first_difference, KernelError, Replay, Rules, Store};
use loom_runtime::{Limits, Runtime};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// What to replay with.
#[derive(Default)]
pub struct ReplayOptions {
    /// A component of the `invariants` world, evaluated at every tick's commit point.
    pub invariants: Option<Vec<u8>>,
    /// Evaluate only `invariants`, not the rules of the bundle each run was recorded with.
    pub only: bool,
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
    let runtime = Runtime::new(Limits::default(), None)?;
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
    let mut out = Vec::new();
    for id in ids {
        let bundle = if opts.only {
            None
        } else {
            Some(load_bundle(&store, &runtime, id)?)
        };
        let mut sets: Vec<(&str, &dyn Rules)> = Vec::new();
        if let Some(b) = &bundle {
            sets.push(("bundle", b));
        }
        if let Some(s) = &swapped {
            sets.push(("invariants", s));
        }
        out.push(replay_run(&store, id, &sets)?);
    }
    Ok(out)
}

fn load_bundle(store: &Store, runtime: &Runtime, run: u64) -> Result<loom_runtime::Bundle> {
    let hash = store.run(run)?.bundle_hash;
    let wasm = store.blob(&hash)?.ok_or_else(|| {
        KernelError::Corrupt(format!(
            "the bundle of run #{run} ({hash}) is missing from the database; pass --only \
             with --invariants to replay without it"
        ))
    })?;
    Ok(runtime.load_bundle(&wasm)?)
}

fn replay_run(store: &Store, id: u64, sets: &[(&str, &dyn Rules)]) -> Result<RunReplay> {
    let started = Instant::now();
    let mut replay = Replay::new(store, id)?;
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
    report.identical =
        report.divergence.is_none() && report.replayed_ticks == report.recorded_ticks;
    report.millis = started.elapsed().as_millis() as u64;
    Ok(report)
}
