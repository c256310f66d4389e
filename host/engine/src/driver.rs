//! The tick loop: ask the bundle what comes next, perform it, commit it with the rules checked.

use crate::effects::{self, Performed};
use crate::error::Result;
use crate::stops::Stop;
use crate::Engine;
use loom_kernel::{
    KernelError, LedgerStatus, RunStatus, Tick, TickKind, TickMeta, TickRow, TickToken,
};
use loom_runtime::{Bundle, Change, EffectStep, NextStep, Outcome};

/// Gates loom itself opens (not the bundle) are named with this prefix.
pub use loom_runtime::UNCERTAIN_PREFIX;

/// What came of handing an outcome to the bundle's `apply`.
pub(crate) enum Applied {
    /// Its changes are in the tick.
    Done,
    /// The bundle refused the outcome, saying why (its `Err`); nothing of it is in the tick.
    Refused(String),
    /// The bundle faulted (a trap, a limit); the message waits in `pending_fault`.
    Fault,
}

impl Engine {
    /// Advances `run` until it finishes, waits for a human, stops, or reaches `max_ticks`.
    pub(crate) fn drive(&mut self, run_id: u64) -> Result<()> {
        let bundle = self.bundle_for(run_id)?;
        let mut taken = 0u64;
        loop {
            let run = self.store.run(run_id)?;
            if run.status != RunStatus::Running {
                return Ok(());
            }
            // Replaying a fork: its fork tick comes next, not a step of the bundle's.
            let recorded_next = self
                .recording
                .as_ref()
                .and_then(|r| r.tick(run.last_seq + 1));
            if recorded_next.is_some_and(|t| t.kind == TickKind::Fork) {
                return Ok(());
            }
            let token = self.token(run_id)?;
            // A tick boundary: an abandon asked for by another process is recorded here.
            if let Some(req) = self.abandon_waiting(run_id, token.seq) {
                self.abandon_tick(token, &req, None)?;
                crate::mailbox::clear(&self.root);
                return Ok(());
            }
            if taken >= self.config.max_ticks {
                return self.fault(&token, None, Stop::MaxTicks { taken });
            }
            taken += 1;
            let next = match bundle.next(&token, &self.store.view(run_id)) {
                Ok(n) => n,
                Err(e) => {
                    let message = e.to_string();
                    return self.fault(&token, None, Stop::BundleFault { message });
                }
            };
            match next {
                NextStep::Finish(text) => self.finish(&bundle, token, RunStatus::Done, text)?,
                NextStep::Fail(text) => self.finish(&bundle, token, RunStatus::Failed, text)?,
                NextStep::Gate(g) => self.gate_step(&bundle, token, g)?,
                NextStep::Effect(e) => self.effect_step(&bundle, token, e)?,
            }
        }
    }

    /// Commits `tick`, turning a refusal or a faulty rule set into a recorded stop.
    pub(crate) fn commit(
        &self,
        tick: Tick<'_>,
        meta: TickMeta,
        bundle: Option<&Bundle>,
    ) -> Result<Option<TickRow>> {
        self.commit_with(tick, meta, bundle, None)
    }

    /// [`Engine::commit`] for a tick that carries an effect's `result`: if the rules cannot
    /// be checked, the stop keeps the result (performed and paid for) for the next attempt.
    pub(crate) fn commit_with(
        &self,
        tick: Tick<'_>,
        meta: TickMeta,
        bundle: Option<&Bundle>,
        result: Option<(&str, u32, &Performed)>,
    ) -> Result<Option<TickRow>> {
        let token = tick.token();
        let step = meta.step.clone();
        let (both, at_commit);
        let budget = match bundle {
            Some(_) => self.budget_rule(token.run)?,
            None => None,
        };
        let rules: Option<&dyn loom_kernel::Rules> = match (bundle, &budget) {
            (Some(b), Some(limit)) => {
                at_commit = crate::budget::AtCommit {
                    budget: limit,
                    spent: self.spent_in_tick(token.run)?,
                };
                both = crate::budget::Both(b, &at_commit);
                Some(&both)
            }
            (Some(b), None) => Some(b),
            (None, _) => None,
        };
        let committed = tick.commit(meta, rules);
        if budget.is_some() {
            // Whatever came of the tick, it is closed: fold in what it committed, so the
            // next commit adds only its own rows to the running spend.
            self.with_tally(token.run, |_| ())?;
        }
        match committed {
            Ok(row) => {
                self.observer.borrow_mut().tick(&row);
                Ok(Some(row))
            }
            Err(KernelError::Violated(_)) => {
                self.announce_last(token.run)?;
                Ok(None)
            }
            Err(KernelError::Rules(msg)) => {
                let stop = Stop::BundleFault { message: msg };
                self.fault_keeping(&token, step.as_deref(), stop, result)?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn announce_last(&self, run: u64) -> Result<()> {
        let last = self.store.run(run)?.last_seq;
        // A tick's id is `run << 32 | seq`: the one before the last tick's.
        let before = ((run << 32) | last) as i64 - 1;
        if let Some(row) = self.store.ticks_after(before, 1)?.pop() {
            self.observer.borrow_mut().tick(&row);
        }
        Ok(())
    }

    /// The run's spend as the open tick has it, from the tally; `None` when there is no tally
    /// of this run yet (its first commit in this process), and the budget recounts.
    fn spent_in_tick(&self, run: u64) -> Result<Option<crate::budget::Running>> {
        match self.tally.borrow().as_ref() {
            Some(t) if t.run() == run => Ok(Some(t.spent_in_tick(&self.store)?)),
            _ => Ok(None),
        }
    }

    /// Stops the run with `message` in a tick of its own (no rules: they may be what failed).
    pub(crate) fn fault(&self, token: &TickToken, step: Option<&str>, stop: Stop) -> Result<()> {
        self.fault_keeping(token, step, stop, None)
    }

    /// How `stop` is recorded in `run`: its facts and its code (format 2 on), or the one text
    /// format 1 runs recorded.
    pub(crate) fn stop_record(&self, run: u64, stop: &Stop) -> Result<(String, Option<String>)> {
        let options = crate::api::RunOptions::parse(&self.store.run(run)?.options, run)?;
        Ok(if options.format >= 2 {
            (stop.fact(), Some(stop.code()))
        } else {
            (stop.legacy_text(), None)
        })
    }

    /// [`Engine::fault`] in a tick that performed an effect: its result is kept in the ledger
    /// as performed but not applied, and the next attempt at the step uses it instead of
    /// performing the effect again (a paid reply is never bought twice).
    pub(crate) fn fault_keeping(
        &self,
        token: &TickToken,
        step: Option<&str>,
        stop: Stop,
        result: Option<(&str, u32, &Performed)>,
    ) -> Result<()> {
        self.fault_with(token, step, stop, |tick| match result {
            Some((key, attempt, p)) => {
                self.record_unapplied(tick, key, attempt, p, crate::run_effect::HELD_FAULT)
            }
            None => Ok(()),
        })
    }

    /// [`Engine::fault`], with what `extra` writes into the stop's tick.
    pub(crate) fn fault_with(
        &self,
        token: &TickToken,
        step: Option<&str>,
        stop: Stop,
        extra: impl FnOnce(&mut loom_kernel::Tick<'_>) -> Result<()>,
    ) -> Result<()> {
        let (message, code) = self.stop_record(token.run, &stop)?;
        let message = message.as_str();
        let mut tick = self.store.begin(*token)?;
        extra(&mut tick)?;
        tick.set_status_coded(RunStatus::Stopped, Some(message), code.as_deref())?;
        let mut meta = TickMeta::new(TickKind::Fault, message);
        meta.step = step.map(str::to_owned);
        let row = tick.commit(meta, None)?;
        self.observer.borrow_mut().tick(&row);
        Ok(())
    }

    fn finish(
        &self,
        bundle: &Bundle,
        token: TickToken,
        status: RunStatus,
        text: String,
    ) -> Result<()> {
        let mut tick = self.store.begin(token)?;
        let reason = (status == RunStatus::Failed).then_some(text.as_str());
        tick.set_status(status, reason)?;
        let summary = format!("run {status}: {text}");
        self.commit(tick, TickMeta::new(TickKind::Finish, summary), Some(bundle))?;
        Ok(())
    }

    /// Calls the bundle's `apply` and writes its changes into `tick`. `Ok(false)` when the
    /// bundle faulted (the caller stops the run); a typed refusal stops the run in this tick.
    pub(crate) fn apply_outcome(
        &self,
        bundle: &Bundle,
        tick: &mut Tick<'_>,
        step: &str,
        outcome: &Outcome,
    ) -> Result<Applied> {
        match bundle.apply(&tick.token(), &tick.view(), step, outcome) {
            Err(e) => {
                *self.pending_fault.borrow_mut() = Some(e.to_string());
                Ok(Applied::Fault)
            }
            Ok(Err(message)) => Ok(Applied::Refused(message)),
            Ok(Ok(changes)) => {
                for c in changes {
                    match c {
                        Change::Phase(p) => tick.set_phase(&p)?,
                        Change::PutFact { kind, key, value } => {
                            tick.put_fact(&kind, &key, &value)?
                        }
                        Change::DropFact { kind, key } => tick.drop_fact(&kind, &key)?,
                        Change::Note(n) => tick.note(&n),
                    }
                }
                Ok(Applied::Done)
            }
        }
    }

    /// Records in `tick` that the bundle refused an outcome of `step`: the run stops, saying
    /// why.
    pub(crate) fn stop_refused(
        &self,
        bundle: &Bundle,
        tick: &mut Tick<'_>,
        step: &str,
        message: String,
    ) -> Result<()> {
        let stop = Stop::ResultRefused {
            bundle: bundle.manifest().name.clone(),
            step: step.to_owned(),
            message,
        };
        let (reason, code) = self.stop_record(tick.token().run, &stop)?;
        tick.set_status_coded(RunStatus::Stopped, Some(&reason), code.as_deref())?;
        Ok(())
    }

    fn effect_step(&self, bundle: &Bundle, token: TickToken, es: EffectStep) -> Result<()> {
        let step = es.step.clone();
        // The n-th execution of a step has key r<run>/<step>#<n>: stable across crashes and
        // holds, so an interrupted attempt is found again under the same key.
        let (done, unfinished) = self.with_tally(token.run, |t| {
            let diffs: Vec<_> = t.unfinished_diffs().cloned().collect();
            (t.settled_keys(&step), diffs)
        })?;
        let key = format!("r{}/{step}#{}", token.run, done + 1);
        let prepared = match effects::prepare(
            &es.effect,
            bundle.manifest(),
            &self.store,
            token.run,
            &unfinished,
            &self.config,
            &self.root,
        ) {
            Ok(p) => p,
            Err(e) => match self.recorded_prepared(&key) {
                Some(p) => p,
                None => {
                    let message = e.to_string();
                    return self.fault(&token, Some(&step), Stop::EffectFailed { message });
                }
            },
        };
        let Some((attempt, performed)) =
            self.run_effect(token, &key, &step, &prepared, Some(bundle))?
        else {
            return Ok(());
        };
        if let Some(req) = self.abandon_waiting(token.run, token.seq) {
            self.abandon_tick(token, &req, Some((&key, attempt, &performed)))?;
            crate::mailbox::clear(&self.root);
            return Ok(());
        }
        let supersede = self
            .store
            .attempts(token.run, &key)?
            .into_iter()
            .filter(|r| r.status == LedgerStatus::Intent && r.attempt < attempt)
            .map(|r| r.attempt)
            .collect::<Vec<_>>();
        let mut tick = self.store.begin(token)?;
        for a in supersede {
            tick.supersede(&key, a)?;
        }
        self.record(&mut tick, &step, &key, attempt, &performed)?;
        let result = Some((key.as_str(), attempt, &performed));
        match self.apply_outcome(bundle, &mut tick, &step, &performed.outcome)? {
            Applied::Done => {}
            Applied::Refused(message) => self.stop_refused(bundle, &mut tick, &step, message)?,
            Applied::Fault => {
                drop(tick);
                let msg = self.pending_fault.borrow_mut().take().unwrap_or_default();
                let stop = Stop::BundleFault { message: msg };
                return self.fault_keeping(&token, Some(&step), stop, result);
            }
        }
        let meta =
            TickMeta::new(TickKind::Effect, format!("{step}: {}", performed.summary)).step(&step);
        self.commit_with(tick, meta, Some(bundle), result)?;
        Ok(())
    }
}
