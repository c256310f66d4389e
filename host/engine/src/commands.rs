//! The commands that come from outside a run (decisions, abandoning) and the driver lock they,
//! like every command that writes, are taken under.

use crate::api::{DriveReport, RunOptions};
use crate::effects::Performed;
use crate::error::{EngineError, Result};
use crate::lock::{DriverLock, Holder};
use crate::mailbox::{self, AbandonRequest};
use crate::origin::{Actor, Decision, Origin, SHOWN_HASH_PREFIX_MIN};
use crate::Engine;
use loom_kernel::{Decider, KernelError, LedgerRow, RunStatus, TickKind, TickMeta, TickToken};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What `loom abandon` achieved.
#[derive(Debug)]
pub enum AbandonOutcome {
    /// Recorded: the task is closed.
    Recorded(Box<DriveReport>),
    /// Another process drives the run; it will record the abandon at its next tick boundary
    /// (after the effect in flight, whose result is kept).
    Requested { run: u64, holder: Box<Holder> },
}

impl Engine {
    /// Takes the driver lock if this engine does not hold it yet; [`EngineError::Busy`] names
    /// the holder otherwise. A replay drives a scratch database and needs no lock.
    pub(crate) fn ensure_driver(&mut self) -> Result<()> {
        if self.lock.is_some() || self.recording.is_some() {
            return Ok(());
        }
        let me = Holder::this_process(&self.transport);
        self.lock = Some(DriverLock::acquire(&self.root, &me)?);
        self.finish_open_fork()
    }

    /// A fork that a crash cut short (before its fork tick) is finished by whoever drives
    /// the project next, before anything else touches it: nothing of its prefix may be done
    /// live.
    fn finish_open_fork(&mut self) -> Result<()> {
        let Some(task) = self.store.open_task()? else {
            return Ok(());
        };
        let Some(run) = self.store.runs_of_task(task.id)?.pop() else {
            return Ok(());
        };
        match self.finish_fork(run.id) {
            Ok(()) => Ok(()),
            // The disk or the database: try again next time.
            Err(
                e
                @ (EngineError::Kernel(loom_kernel::KernelError::Sql(_)) | EngineError::Io { .. }),
            ) => Err(e),
            // A fork that can never be finished (its parent's record no longer reproduces,
            // its bundle will not load) must not hold the project: it is abandoned, saying
            // why, and kept for the record.
            Err(e) => {
                let why = format!("the fork could not be completed: {e}");
                self.abandon(Some(&why)).map(|_| ())
            }
        }
    }

    /// Takes the driver lock, waiting for the current holder (at most `timeout`, if given);
    /// `waiting` is told once who it waits for.
    pub fn acquire_driver_wait(
        &mut self,
        timeout: Option<Duration>,
        waiting: impl FnMut(&Holder),
    ) -> Result<()> {
        if self.lock.is_none() && self.recording.is_none() {
            let me = Holder::this_process(&self.transport);
            self.lock = Some(DriverLock::acquire_wait(&self.root, &me, timeout, waiting)?);
            self.finish_open_fork()?;
        }
        Ok(())
    }

    /// Whether this engine holds the driver lock.
    pub fn is_driver(&self) -> bool {
        self.lock.is_some()
    }

    /// The budget rule of `run`: the caps frozen into it (format 2 on), else the config's.
    pub(crate) fn budget_rule(&self, run: u64) -> Result<Option<Rc<crate::budget::Budget>>> {
        if let Some((r, b)) = &*self.budget.borrow() {
            if *r == run {
                return Ok(b.clone());
            }
        }
        let options = RunOptions::parse(&self.store.run(run)?.options, run)?;
        let caps = match options.budget {
            Some(c) => c,
            None => crate::budget::Caps::from_config(&self.config),
        };
        let exact = options.format >= 4;
        let rule = crate::budget::Budget::from_caps(&caps, exact).map(Rc::new);
        self.budget.replace(Some((run, rule.clone())));
        Ok(rule)
    }

    /// A human decides gate `which` (its name or id) through this engine's transport.
    pub fn decide(
        &mut self,
        which: &str,
        approved: bool,
        note: Option<&str>,
        by: &str,
    ) -> Result<DriveReport> {
        let origin = Origin::human(by, self.transport.clone());
        let mut d = Decision::new(which, approved, note, origin);
        // A replay re-enacts what a human did, a take-over included.
        d.take_over = self.recording.is_some();
        self.decide_as(&d)
    }

    /// Records `d` on the open run's gate and drives the run on. Refused, with nothing
    /// recorded: a gate already decided, one that now shows other content than `d` was shown,
    /// an agent on a gate for a human, anyone on a gate a rule decides.
    pub fn decide_as(&mut self, d: &Decision) -> Result<DriveReport> {
        let run = self.record_decision(d)?;
        self.drive(run)?;
        self.report(run)
    }

    /// [`Engine::decide_as`] without driving on: the decision's tick is committed, and the
    /// run is left for [`Engine::drive_run`]. Returns the run.
    pub fn record_decision(&mut self, d: &Decision) -> Result<u64> {
        self.ensure_driver()?;
        // With no task open, a decision on the last run's gate is one on a decided gate.
        let run = match self.open_run() {
            Ok(r) => r,
            Err(e) => match self.current_run()? {
                Some(r) => r,
                None => return Err(e),
            },
        };
        let matches = |g: &&loom_kernel::Gate| g.name == d.gate || g.id.to_string() == d.gate;
        // The pending gates only (an index of them): a run may have decided thousands.
        let pending = self.store.pending_gates(run.id)?;
        let Some(gate) = pending.iter().rev().find(matches) else {
            let gates = self.store.gates(run.id)?;
            return Err(match gates.iter().rev().find(matches) {
                Some(g) => EngineError::Conflict(format!(
                    "gate {} (#{}) was already {} by {} via {} at tick {}; nothing recorded",
                    g.name,
                    g.id,
                    g.status.as_str(),
                    g.decided_by.as_deref().unwrap_or("?"),
                    g.transport.as_deref().unwrap_or("?"),
                    g.decided_tick.map_or("?".into(), |t| t.to_string())
                )),
                None if self.store.open_task()?.is_none() => {
                    EngineError::Usage("no task is open; start one with `loom run \"…\"`".into())
                }
                None => KernelError::NoSuchGate(d.gate.clone()).into(),
            });
        };
        if let Some(h) = &d.shown_hash {
            let h = h.trim().to_ascii_lowercase();
            if h.len() < SHOWN_HASH_PREFIX_MIN || !gate.shown_hash.starts_with(&h) {
                return Err(EngineError::Conflict(format!(
                    "gate {} now shows other content than the decision was made on (shown \
                     {}…, decided on {h}); look at it again (`loom gates`) and decide again",
                    gate.name,
                    &gate.shown_hash[..SHOWN_HASH_PREFIX_MIN.min(gate.shown_hash.len())]
                )));
            }
        }
        let decider = match (d.origin.actor, gate.decider) {
            (Actor::Human, Decider::Human) => Decider::Human,
            (Actor::Human, Decider::Agent) if d.take_over => Decider::Human,
            (Actor::Human, Decider::Agent) => {
                return Err(EngineError::Forbidden(format!(
                    "gate {} is for an agent to decide; to decide it yourself, take it over \
                     (`--take-over`): it is then recorded as a human decision",
                    gate.name
                )))
            }
            (Actor::Agent, Decider::Agent) => Decider::Agent,
            (actor, expected) => {
                return Err(EngineError::Forbidden(format!(
                    "gate {} is for {} to decide; {actor} {} (via {}) cannot decide \
                     it, and nothing was recorded",
                    gate.name,
                    expected.with_article(),
                    d.origin.who,
                    d.origin.transport
                )))
            }
        };
        if !d.approved && d.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(EngineError::Usage(
                "a rejection needs a reason (--reason …): the agents read it".into(),
            ));
        }
        let bundle = self.bundle_for(run.id)?;
        let edited = crate::gate_steps::checked_edit(&bundle, gate, d)?;
        let token = self.token(run.id)?;
        let gate = gate.clone();
        let transport = std::mem::replace(&mut self.transport, d.origin.transport.clone());
        let decided = self.decide_tick(
            &bundle,
            token,
            &gate,
            d.approved,
            decider,
            &d.origin.who,
            d.note.as_deref(),
            edited.as_deref(),
            None,
        );
        self.transport = transport;
        decided?;
        let after = self.store.run(run.id)?;
        if after.status == RunStatus::Waiting && after.last_seq == token.seq {
            // A rule refused the decision; the gate is still open.
            let v = self.store.violations(run.id)?.pop();
            let (rule, why) = v
                .map(|v| (v.rule, v.message))
                .unwrap_or_else(|| ("?".into(), String::new()));
            return Err(KernelError::Violated(vec![loom_kernel::Violation {
                rule,
                message: format!(
                    "{why}. The refusal is recorded (tick {}, REFUSED in `loom log`); the gate \
                     {} stays open for another decision (`loom gates`)",
                    token.seq, gate.name
                ),
                rows: Vec::new(),
            }])
            .into());
        }
        Ok(run.id)
    }

    /// Ends the open task without finishing it (this engine must be able to drive).
    pub fn abandon(&mut self, reason: Option<&str>) -> Result<DriveReport> {
        let origin = Origin::human("someone", self.transport.clone());
        self.abandon_as(reason, &origin)
    }

    /// Ends the open task, recorded under `origin`. Needs the driver lock: with another
    /// driver alive use [`Engine::request_abandon`].
    pub fn abandon_as(&mut self, reason: Option<&str>, origin: &Origin) -> Result<DriveReport> {
        self.ensure_driver()?;
        let run = self.open_run()?;
        let token = self.token(run.id)?;
        let req = AbandonRequest {
            run: run.id,
            reason: reason.unwrap_or("abandoned").to_owned(),
            origin: origin.clone(),
        };
        self.abandon_tick(token, &req, None)?;
        mailbox::clear(&self.root);
        self.report(run.id)
    }

    /// Abandons the open task now if no other process drives it; otherwise leaves a request
    /// the driver records at its next tick boundary, and waits up to `wait` for that.
    pub fn request_abandon(
        &mut self,
        reason: Option<&str>,
        origin: &Origin,
        wait: Duration,
    ) -> Result<AbandonOutcome> {
        let start = Instant::now();
        let mut posted = None;
        loop {
            match self.abandon_as(reason, origin) {
                Ok(r) => return Ok(AbandonOutcome::Recorded(Box::new(r))),
                Err(EngineError::Busy(holder)) => {
                    // The driver may have recorded it and not yet let go of the lock.
                    if let Some(run) = posted {
                        if self.store.run(run)?.status == loom_kernel::RunStatus::Abandoned {
                            return Ok(AbandonOutcome::Recorded(Box::new(self.report(run)?)));
                        }
                    }
                    let run = self.open_run()?;
                    if posted.is_none() {
                        let req = AbandonRequest {
                            run: run.id,
                            reason: reason.unwrap_or("abandoned").to_owned(),
                            origin: origin.clone(),
                        };
                        mailbox::post(&self.root, &req)?;
                        posted = Some(run.id);
                    }
                    if start.elapsed() >= wait {
                        return Ok(AbandonOutcome::Requested {
                            run: run.id,
                            holder,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                // The driver recorded it meanwhile: the task is no longer open.
                Err(EngineError::Usage(_)) if posted.is_some() => {
                    let run = posted.unwrap_or_default();
                    return Ok(AbandonOutcome::Recorded(Box::new(self.report(run)?)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An abandon waiting for this driver at the boundary before tick `seq` of `run`: in a
    /// replay, the recorded one.
    pub(crate) fn abandon_waiting(&self, run: u64, seq: u64) -> Option<AbandonRequest> {
        match &self.recording {
            Some(rec) => rec.abandon_at(seq).map(|(via, reason)| AbandonRequest {
                run,
                reason: reason.unwrap_or_else(|| "abandoned".into()),
                origin: Origin::human("someone", via),
            }),
            None => mailbox::take_for(&self.root, run),
        }
    }

    /// The abandon tick: the task closes; an effect that finished after the request is kept
    /// in the ledger as performed but not applied (`late`), never silently dropped.
    pub(crate) fn abandon_tick(
        &self,
        token: TickToken,
        req: &AbandonRequest,
        late: Option<(&str, u32, &Performed)>,
    ) -> Result<()> {
        let mut tick = self.store.begin(token)?;
        match &self.recording {
            Some(rec) => {
                for (row, bytes) in rec.unapplied_at(token.seq) {
                    self.restore_unapplied(&mut tick, &row, bytes.as_deref())?;
                }
            }
            None => {
                if let Some((key, attempt, p)) = late {
                    self.record_unapplied(&mut tick, key, attempt, p, "abandoned")?;
                }
            }
        }
        tick.set_status(RunStatus::Abandoned, Some(&req.reason))?;
        // Abandoning must always be possible, so no rule can refuse it.
        self.commit(
            tick,
            TickMeta::new(
                TickKind::Abandon,
                format!("abandoned via {}: {}", req.origin.transport, req.reason),
            ),
            None,
        )?;
        Ok(())
    }

    fn restore_unapplied(
        &self,
        tick: &mut loom_kernel::Tick<'_>,
        row: &LedgerRow,
        bytes: Option<&[u8]>,
    ) -> Result<()> {
        self.store.restore_intent(row)?;
        tick.record_unapplied(&row.key, row.attempt, bytes, &row.summary, &row.meta)?;
        Ok(())
    }
}
