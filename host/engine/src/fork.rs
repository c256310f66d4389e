//! Forking a run (time travel): a new run whose ticks 1..=SEQ re-execute a recorded run's from
//! its record (its tokens, results and decisions: no provider call, no command), then go on
//! live from SEQ+1 with what the fork changes: the provider, the bundle, the settings, the
//! task's wording, or a decision still to be taken at SEQ.
//!
//! Tick 1 of the fork names its parent, the fork point and the parent's hash there (see
//! [`ForkOrigin`]); tick SEQ+1 is the fork tick, which applies the changes. Everything in
//! between is checked to be the parent's tick for tick, before anything is written (on a
//! scratch database) and again after, so `loom verify` can prove the shared prefix.

use crate::api::{start_summary, RunOptions};
use crate::error::{EngineError, Result};
use crate::recording::Recording;
use crate::{DriveReport, Engine, Silent};
use loom_kernel::{
    first_difference, ForkOrigin, KernelError, NewRun, Run, TickKind, TickMeta, TickRow, TickToken,
    Write,
};
use loom_runtime::Bundle;
use serde::Serialize;
use std::sync::Arc;

/// What a fork asks for: where, and what changes at the fork point.
#[derive(Clone, Debug, Default)]
pub struct ForkRequest {
    pub run: u64,
    /// The last tick the fork shares with `run`.
    pub at: u64,
    /// New wording for the task (the prefix keeps what the parent did with the old one).
    pub title: Option<String>,
    /// One provider spec for every agent role after the fork point.
    pub provider: Option<String>,
    /// Another bundle (a new version); its logic must reproduce the prefix.
    pub bundle: Option<Vec<u8>>,
    /// Take the bundle settings from the project's config at the fork point.
    pub settings_from_config: bool,
    /// Abandon the open task to make room for the fork.
    pub replace: bool,
}

/// What a fork did, and where the new run stands.
#[derive(Debug, Serialize)]
pub struct Forked {
    pub parent: u64,
    pub at: u64,
    /// The ticks re-executed from the parent's record.
    pub reexecuted: u64,
    /// The parent's diffs taken back out of the working tree, newest first, by effect key.
    pub reverted: Vec<String>,
    /// The task abandoned for the fork (`replace`).
    pub replaced: Option<u64>,
    pub report: DriveReport,
}

impl Engine {
    /// Forks run `req.run` after tick `req.at` and drives the fork as far as it goes.
    pub fn fork(&mut self, req: &ForkRequest) -> Result<Forked> {
        let mut forked = self.begin_fork(req)?;
        let run = forked.report.run.id;
        self.drive(run)?;
        forked.report = self.report(run)?;
        Ok(forked)
    }

    /// [`Engine::fork`] up to and including the fork tick, without driving the fork on.
    pub fn begin_fork(&mut self, req: &ForkRequest) -> Result<Forked> {
        self.ensure_driver()?;
        let parent = self.store.run(req.run)?;
        let ticks = self.store.ticks(parent.id)?;
        check_fork_point(&parent, &ticks, req.at)?;
        if let Some(spec) = &req.provider {
            loom_providers::validate_spec(spec)?;
            loom_providers::from_spec(spec, &self.root)
                .map_err(|e| EngineError::Usage(e.to_string()))?;
        }
        let wasm = match &req.bundle {
            Some(w) => w.clone(),
            None => self.store.blob(&parent.bundle_hash)?.ok_or_else(|| {
                KernelError::Corrupt(format!(
                    "the bundle of run #{} ({}) is missing from the database; pass --bundle",
                    parent.id, parent.bundle_hash
                ))
            })?,
        };
        let bundle = Arc::new(self.runtime.load_bundle(&wasm)?);
        self.preflight(bundle.manifest(), req.provider.as_deref())?;
        let at_fork = self.dry_run(&parent, &ticks, req.at, bundle.clone())?;
        if at_fork.status.is_final() {
            return Err(EngineError::Usage(format!(
                "run #{} is {} at tick {}: a fork from there would have nothing left to do; \
                 fork at an earlier tick (`loom log {}` lists them)",
                parent.id, at_fork.status, req.at, parent.id
            )));
        }
        let open = self.store.open_task()?;
        if let (Some(task), false) = (&open, req.replace) {
            return Err(EngineError::Usage(format!(
                "task #{} \"{}\" is open, and a fork opens a task of its own: finish it, \
                 `loom abandon` it, or fork with --replace to abandon it for the fork",
                task.id, task.title
            )));
        }
        let diffs = crate::workspace::diffs_after(&self.store, parent.id, req.at)?;
        let scratch = crate::effects::scratch(&self.root)?;
        let reverted = crate::workspace::revert(&self.root, &diffs, &scratch)
            .map_err(|why| EngineError::Usage(format!("{why}; nothing was forked")))?;
        let replaced = match open {
            Some(task) => {
                let reason = format!(
                    "replaced by a fork of run #{} at tick {}",
                    parent.id, req.at
                );
                self.abandon(Some(&reason))?;
                Some(task.id)
            }
            None => None,
        };
        let settings = match req.settings_from_config {
            true => Some(self.config.bundle_settings()).filter(|s| *s != at_fork.settings),
            false => None,
        };
        let origin = ForkOrigin {
            run: parent.id,
            at: req.at,
            hash: ticks[req.at as usize - 1].hash.clone(),
            provider: req.provider.clone(),
            settings,
            title: req
                .title
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        };
        self.store.put_blob_compressed(&wasm)?;
        let id = self.start_fork(&ticks[0], &bundle, &origin)?;
        if let Err(e) = self.finish_fork(id) {
            // The dry run said the prefix reproduces; if the live one does not after all, the
            // fork is not left open half made: it is abandoned, saying why, and kept.
            let why = format!("the fork could not be completed: {e}");
            self.abandon(Some(&why))?;
            return Err(e);
        }
        Ok(Forked {
            parent: parent.id,
            at: req.at,
            reexecuted: req.at,
            reverted,
            replaced,
            report: self.report(id)?,
        })
    }

    /// Re-executes the parent's ticks 1..=`at` with `bundle` on a scratch database and checks
    /// that they come out as recorded; returns the run as it stands after tick `at`.
    fn dry_run(
        &self,
        parent: &Run,
        ticks: &[TickRow],
        at: u64,
        bundle: Arc<Bundle>,
    ) -> Result<Run> {
        let mut rec = Recording::prefix(&self.store, parent.id, at, parent.id)?;
        rec.keep_identity = true;
        let mut engine = Engine::replaying(
            self.root.clone(),
            self.runtime.clone(),
            self.config.clone(),
            rec,
            loom_kernel::Store::open_in_memory()?,
        )?;
        let stopped = crate::reexecute::drive_recorded(&mut engine, parent.id, bundle.clone())
            .err()
            .map(|e| e.to_string());
        let replayed = engine.store.ticks(parent.id)?;
        let m = bundle.manifest();
        for recorded in &ticks[..at as usize] {
            let diff = match replayed.get(recorded.seq as usize - 1) {
                Some(r) => first_difference(recorded, r),
                None => Some((
                    "the whole tick".to_owned(),
                    format!("{} {}", recorded.kind.as_str(), recorded.summary),
                    format!(
                        "(none: re-execution stopped{})",
                        stopped
                            .as_ref()
                            .map(|s| format!(": {s}"))
                            .unwrap_or_default()
                    ),
                )),
            };
            if let Some((what, recorded_text, replayed_text)) = diff {
                return Err(EngineError::ForkRefused {
                    bundle: format!("{} {}", m.name, m.version),
                    parent: parent.id,
                    seq: recorded.seq,
                    what,
                    recorded: recorded_text,
                    replayed: replayed_text,
                });
            }
        }
        Ok(engine.store.run(parent.id)?)
    }

    /// Commits tick 1 of the fork: the parent's start under a new task and run (with the
    /// fork's bundle) and where the fork comes from. Returns the new run.
    fn start_fork(
        &mut self,
        first: &TickRow,
        bundle: &Arc<Bundle>,
        origin: &ForkOrigin,
    ) -> Result<u64> {
        let writes: Vec<Write> = serde_json::from_str(&first.changes)
            .map_err(|e| KernelError::Corrupt(format!("tick 1 of run #{}: {e}", first.run_id)))?;
        let Some(Write::RunStart {
            title, settings, ..
        }) = writes.into_iter().next()
        else {
            return Err(KernelError::Corrupt(format!(
                "tick 1 of run #{} is not a start",
                first.run_id
            ))
            .into());
        };
        let options = Recording::prefix(&self.store, origin.run, origin.at, origin.run)?
            .first_options()
            .to_owned();
        let m = bundle.manifest();
        let new = NewRun {
            // The wording changes at the fork tick: the prefix shows what the parent showed.
            title,
            bundle_name: m.name.clone(),
            bundle_version: m.version.clone(),
            bundle_hash: bundle.hash().to_owned(),
            phase: m.phases.first().cloned().unwrap_or_else(|| "start".into()),
            settings,
            options,
        };
        let id = self.store.next_run_id()?;
        let token = TickToken {
            run: id,
            seq: 1,
            unix_ms: first.unix_ms,
        };
        let mut tick = self.store.begin_run_as(&new, Some(token), None)?;
        tick.fork_of(origin);
        self.bundles.push(bundle.clone());
        self.commit(
            tick,
            TickMeta::new(TickKind::Start, start_summary(&new)),
            None,
        )?;
        Ok(id)
    }

    /// Brings fork `id` to its fork tick, wherever a crash left it: re-executes what is left
    /// of its prefix from the parent's record, checks the prefix is the parent's, and commits
    /// the fork tick. Nothing for a run that is not a fork or is past its fork tick.
    pub(crate) fn finish_fork(&mut self, id: u64) -> Result<()> {
        let Some(origin) = self.fork_origin(id)? else {
            return Ok(());
        };
        let last = self.store.run(id)?.last_seq;
        if last > origin.at {
            return Ok(());
        }
        if last < origin.at {
            self.follow_parent(id, &origin)?;
        }
        self.check_prefix(id, &origin)?;
        self.fork_tick(id, &origin)
    }

    /// Whether the open task's run is a fork that has not reached its fork tick.
    pub(crate) fn unfinished_fork(&self) -> Result<bool> {
        let Some(task) = self.store.open_task()? else {
            return Ok(false);
        };
        let Some(run) = self.store.runs_of_task(task.id)?.pop() else {
            return Ok(false);
        };
        Ok(self
            .fork_origin(run.id)?
            .is_some_and(|o| run.last_seq <= o.at))
    }

    /// Where run `id` was forked from, if it is a fork.
    pub(crate) fn fork_origin(&self, id: u64) -> Result<Option<ForkOrigin>> {
        let first = self.store.ticks_after((id << 32) as i64, 1)?;
        match first.first().filter(|t| t.run_id == id) {
            Some(t) => Ok(ForkOrigin::of(t)?),
            None => Ok(None),
        }
    }

    /// Re-executes the rest of fork `id`'s prefix with the parent's recording standing in
    /// for the clock, the providers, the commands and the people.
    fn follow_parent(&mut self, id: u64, origin: &ForkOrigin) -> Result<()> {
        let rec = Recording::prefix(&self.store, origin.run, origin.at, id)?;
        let bundle = self.bundle_for(id)?;
        // While replaying, the engine runs the first bundle it holds.
        self.bundles.insert(0, bundle);
        let transport = self.transport.clone();
        let quiet: Box<dyn crate::Observer> = match prefix_failpoint() {
            Some(after) => Box::new(DieAfter { after, seen: 0 }),
            None => Box::new(Silent),
        };
        let observer = self.observer.replace(quiet);
        self.recording = Some(rec);
        let followed = crate::reexecute::follow(self, id);
        self.recording = None;
        self.observer.replace(observer);
        self.transport = transport;
        self.bundles.remove(0);
        self.budget.replace(None);
        self.tally.replace(None);
        let last = self.store.run(id)?.last_seq;
        if last < origin.at {
            let why = followed.err().map(|e| format!(": {e}")).unwrap_or_default();
            return Err(EngineError::Effect(format!(
                "fork #{id} stopped re-executing run #{} at tick {last} of {}{why}",
                origin.run, origin.at
            )));
        }
        Ok(())
    }

    /// Checks fork `id`'s ticks 1..=`at` against its parent's, as `verify` does.
    fn check_prefix(&self, id: u64, origin: &ForkOrigin) -> Result<()> {
        let parent = self.store.ticks(origin.run)?;
        let fork = self.store.ticks(id)?;
        if let Some(b) = crate::fork_prefix::prefix_break(&parent, &fork, origin) {
            return Err(EngineError::Effect(format!(
                "fork #{id} does not reproduce run #{} at tick {}: {}",
                origin.run, b.seq, b.problem
            )));
        }
        Ok(())
    }

    /// The fork tick: what the fork changes, applied at SEQ+1 (replayed as recorded).
    pub(crate) fn fork_tick(&mut self, id: u64, origin: &ForkOrigin) -> Result<()> {
        let bundle = self.bundle_for(id)?;
        let run = self.store.run(id)?;
        let token = self.token(id)?;
        let mut tick = self.store.begin(token)?;
        let mut summary = format!("forked from run #{} after tick {}", origin.run, origin.at);
        if let Some(p) = &origin.provider {
            let mut options = RunOptions::parse(&run.options, id)?;
            if options.provider.as_deref() != Some(p.as_str()) {
                options.provider = Some(p.clone());
                tick.set_options(&options.to_json()?)?;
                summary.push_str(&format!("; every agent role now calls {p}"));
            }
        }
        if let Some(s) = origin.settings.as_ref().filter(|s| **s != run.settings) {
            tick.set_settings(s)?;
            summary.push_str(&format!("; bundle settings now {s}"));
        }
        let task = self.store.task(run.task_id)?;
        if let Some(t) = origin
            .title
            .as_ref()
            .filter(|t| task.as_ref().is_some_and(|task| task.title != **t))
        {
            tick.set_title(t)?;
            summary.push_str(&format!("; the task now reads \"{t}\""));
        }
        self.budget.replace(None);
        self.commit(tick, TickMeta::new(TickKind::Fork, summary), Some(&bundle))?;
        Ok(())
    }
}

/// `LOOM_FAILPOINT=fork-prefix:K`: die right after the K-th tick the fork re-executes (a kill
/// during the prefix, made reproducible for the tests).
fn prefix_failpoint() -> Option<u64> {
    std::env::var("LOOM_FAILPOINT")
        .ok()?
        .strip_prefix("fork-prefix:")?
        .parse()
        .ok()
}

struct DieAfter {
    after: u64,
    seen: u64,
}

impl crate::Observer for DieAfter {
    fn tick(&mut self, _row: &TickRow) {
        self.seen += 1;
        if self.seen >= self.after {
            std::process::abort();
        }
    }
}

/// Refuses a fork point that is not a tick of `parent`, or a parent that is itself a fork
/// still re-executing its prefix, or whose chain does not hold up to there.
fn check_fork_point(parent: &Run, ticks: &[TickRow], at: u64) -> Result<()> {
    if at == 0 || at > ticks.len() as u64 {
        return Err(EngineError::Usage(format!(
            "run #{} has ticks 1 to {}; fork after one of them (`loom log {}` lists them)",
            parent.id,
            ticks.len(),
            parent.id
        )));
    }
    if let Err(b) = loom_kernel::verify_chain(&ticks[..at as usize]) {
        return Err(EngineError::Usage(format!(
            "run #{}'s record does not hold at tick {} ({}); a fork would build on an \
             unproven record: `loom verify {}`",
            parent.id, b.seq, b.problem, parent.id
        )));
    }
    if let Some(origin) = ForkOrigin::of(&ticks[0])? {
        if parent.last_seq <= origin.at {
            return Err(EngineError::Usage(format!(
                "run #{} is a fork still re-executing its parent; `loom resume` finishes it first",
                parent.id
            )));
        }
    }
    Ok(())
}
