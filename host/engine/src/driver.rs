//! The tick loop: ask the bundle what comes next, perform it, commit it with the rules checked.

use crate::effects::{self, Performed};
use crate::error::Result;
use crate::{policy, Engine};
use loom_kernel::{
    Decider, Gate, GateStatus, KernelError, LedgerStatus, RunStatus, Tick, TickKind, TickMeta,
    TickRow, TickToken,
};
use loom_runtime::{Bundle, Change, EffectStep, GateDecision, GateStep, NextStep, Outcome};

/// Gates loom itself opens (not the bundle) are named with this prefix.
pub use loom_runtime::UNCERTAIN_PREFIX;

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
            let token = self.token(run_id)?;
            if taken >= self.config.max_ticks {
                let msg = format!(
                    "stopped after {taken} ticks (max_ticks in loom.toml); the bundle may be \
                     looping. `loom log` shows the last steps; `loom resume` goes on"
                );
                return self.fault(&token, None, &msg);
            }
            taken += 1;
            let next = match bundle.next(&token, &self.store.view(run_id)) {
                Ok(n) => n,
                Err(e) => return self.fault(&token, None, &e.to_string()),
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
        let token = tick.token();
        let step = meta.step.clone();
        let both;
        let rules: Option<&dyn loom_kernel::Rules> = match (bundle, &self.budget) {
            (Some(b), Some(limit)) => {
                both = crate::budget::Both(b, limit);
                Some(&both)
            }
            (Some(b), None) => Some(b),
            (None, _) => None,
        };
        match tick.commit(meta, rules) {
            Ok(row) => {
                self.observer.borrow_mut().tick(&row);
                Ok(Some(row))
            }
            Err(KernelError::Violated(_)) => {
                self.announce_last(token.run)?;
                Ok(None)
            }
            Err(KernelError::Rules(msg)) => {
                self.fault(&token, step.as_deref(), &msg)?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn announce_last(&self, run: u64) -> Result<()> {
        if let Some(row) = self.store.ticks(run)?.pop() {
            self.observer.borrow_mut().tick(&row);
        }
        Ok(())
    }

    /// Stops the run with `message` in a tick of its own (no rules: they may be what failed).
    pub(crate) fn fault(&self, token: &TickToken, step: Option<&str>, message: &str) -> Result<()> {
        let mut tick = self.store.begin(*token)?;
        tick.set_status(RunStatus::Stopped, Some(message))?;
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

    fn gate_step(&self, bundle: &Bundle, token: TickToken, g: GateStep) -> Result<()> {
        let Some(decl) = bundle
            .manifest()
            .gates
            .iter()
            .find(|d| d.name == g.gate)
            .cloned()
        else {
            let msg = format!(
                "bundle {} asked for gate \"{}\", which its manifest does not declare",
                bundle.manifest().name,
                g.gate
            );
            return self.fault(&token, Some(&g.gate), &msg);
        };
        let pending = self
            .store
            .view(token.run)
            .gates()?
            .into_iter()
            .rev()
            .find(|x| x.name == g.gate && x.status == GateStatus::Pending);
        match pending {
            None => {
                // A replay takes the decider the recording shows: policy lives in a config
                // file the recording does not hold.
                let decider = match self
                    .recording
                    .as_ref()
                    .and_then(|r| r.gate_decider(token.seq))
                {
                    Some(d) => d,
                    None => policy::decider_for(&self.config, &decl, g.require_human),
                };
                let mut tick = self.store.begin(token)?;
                tick.open_gate(&g.gate, decider, decl.risk, &g.summary)?;
                if decider == Decider::Human {
                    tick.set_status(
                        RunStatus::Waiting,
                        Some(&format!("waiting for a human to decide gate {}", g.gate)),
                    )?;
                }
                let why = if g.require_human {
                    " (the bundle demands a human here)"
                } else {
                    ""
                };
                let meta = TickMeta::new(
                    TickKind::GateOpen,
                    format!("gate {} opened for a {decider} to decide{why}", g.gate),
                )
                .step(&g.gate)
                .decider(decider.as_str());
                self.commit(tick, meta, Some(bundle))?;
                Ok(())
            }
            Some(p) => match p.decider {
                Decider::Human => {
                    let mut tick = self.store.begin(token)?;
                    tick.set_status(
                        RunStatus::Waiting,
                        Some(&format!("waiting for a human to decide gate {}", p.name)),
                    )?;
                    self.commit(
                        tick,
                        TickMeta::new(TickKind::Hold, format!("waiting on gate {}", p.name))
                            .step(&p.name),
                        None,
                    )?;
                    Ok(())
                }
                Decider::Rule => {
                    self.decide_tick(bundle, token, &p, true, Decider::Rule, "rule", None, None)
                }
                Decider::Agent => self.agent_decides(
                    bundle,
                    token,
                    &p,
                    decl.role.as_deref().unwrap_or("gatekeeper"),
                ),
            },
        }
    }

    fn agent_decides(
        &self,
        bundle: &Bundle,
        token: TickToken,
        gate: &Gate,
        role: &str,
    ) -> Result<()> {
        let title = self.store.view(token.run).task()?.title;
        let prompt = format!(
            "You are deciding the gate \"{}\" of an automated software task.\nTask: {title}\n\n\
             What you are shown:\n{}\n\nReply with APPROVE on the first line to approve, or \
             REJECT: <reason> to reject.",
            gate.name, gate.summary
        );
        let prepared = effects::prepare_question(role, prompt, &self.config);
        let key = format!("r{}/gate:{}@{}", token.run, gate.name, gate.id);
        let Some((attempt, performed)) =
            self.run_effect(token, &key, &gate.name, &prepared, None)?
        else {
            return Ok(());
        };
        let text = match &performed.outcome {
            Outcome::Agent(r) => r.text.clone(),
            _ => String::new(),
        };
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let upper = first.to_ascii_uppercase();
        let (approved, note) = if upper.starts_with("APPROVE") {
            (true, None)
        } else if upper.starts_with("REJECT") {
            (
                false,
                Some(first[6..].trim_start_matches([':', ' ']).to_owned()),
            )
        } else {
            let mut tick = self.store.begin(token)?;
            self.record(&mut tick, &gate.name, &key, attempt, &performed)?;
            let msg = format!(
                "the agent's answer at gate {} was neither APPROVE nor REJECT: {first:?}",
                gate.name
            );
            tick.set_status(RunStatus::Stopped, Some(&msg))?;
            self.commit(
                tick,
                TickMeta::new(TickKind::Fault, msg).step(&gate.name),
                None,
            )?;
            return Ok(());
        };
        let by = performed.meta["provider"]
            .as_str()
            .unwrap_or("agent")
            .to_owned();
        self.decide_tick(
            bundle,
            token,
            gate,
            approved,
            Decider::Agent,
            &by,
            note.as_deref(),
            Some((&key, attempt, &performed)),
        )
    }

    /// The tick that records a decision on `gate` and what the bundle makes of it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide_tick(
        &self,
        bundle: &Bundle,
        token: TickToken,
        gate: &Gate,
        approved: bool,
        decider: Decider,
        by: &str,
        note: Option<&str>,
        result: Option<(&str, u32, &Performed)>,
    ) -> Result<()> {
        let mut tick = self.store.begin(token)?;
        if let Some((key, attempt, performed)) = result {
            self.record(&mut tick, &gate.name, key, attempt, performed)?;
        }
        let transport = match self.recording.as_ref() {
            Some(r) => r.decision_transport(token.seq),
            None => None,
        }
        .unwrap_or_else(|| self.transport.clone());
        tick.decide_gate(gate.id, approved, decider, by, &transport, note)?;
        let mut failed = false;
        if gate.name.starts_with(UNCERTAIN_PREFIX) {
            if !approved {
                failed = true;
                tick.set_status(
                    RunStatus::Failed,
                    Some(&format!(
                        "{by} chose not to redo an uncertain effect ({})",
                        gate.name
                    )),
                )?;
            }
        } else {
            let outcome = Outcome::Gate(GateDecision {
                gate: gate.name.clone(),
                approved,
                decider,
                by: by.to_owned(),
                note: note.map(str::to_owned),
            });
            if !self.apply_outcome(bundle, &mut tick, &gate.name, &outcome)? {
                drop(tick);
                let msg = self.pending_fault.borrow_mut().take().unwrap_or_default();
                return self.fault(&token, Some(&gate.name), &msg);
            }
        }
        if !failed && self.store.view(token.run).run()?.status != RunStatus::Running {
            tick.set_status(RunStatus::Running, None)?;
        }
        let verdict = if approved { "approved" } else { "rejected" };
        let note_text = note.map(|n| format!(": {n}")).unwrap_or_default();
        let mut meta = TickMeta::new(
            TickKind::Decision,
            format!("{by} ({decider}) {verdict} gate {}{note_text}", gate.name),
        )
        .step(&gate.name)
        .decider(decider.as_str());
        if decider == Decider::Human {
            meta.on_violation = RunStatus::Waiting;
        }
        self.commit(tick, meta, Some(bundle))?;
        Ok(())
    }

    /// Calls the bundle's `apply` and writes its changes into `tick`. `Ok(false)` when the
    /// bundle faulted (the caller stops the run); a typed refusal stops the run in this tick.
    fn apply_outcome(
        &self,
        bundle: &Bundle,
        tick: &mut Tick<'_>,
        step: &str,
        outcome: &Outcome,
    ) -> Result<bool> {
        match bundle.apply(&tick.token(), &tick.view(), step, outcome) {
            Err(e) => {
                *self.pending_fault.borrow_mut() = Some(e.to_string());
                Ok(false)
            }
            Ok(Err(msg)) => {
                let m = bundle.manifest();
                tick.set_status(
                    RunStatus::Stopped,
                    Some(&format!("bundle {} could not use the result of {step}: {msg}; `loom resume` runs the step again", m.name)),
                )?;
                Ok(true)
            }
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
                Ok(true)
            }
        }
    }

    fn effect_step(&self, bundle: &Bundle, token: TickToken, es: EffectStep) -> Result<()> {
        let step = es.step.clone();
        // The n-th execution of a step has key r<run>/<step>#<n>: stable across crashes and
        // holds, so an interrupted attempt is found again under the same key.
        let done = self
            .store
            .ledger(token.run)?
            .into_iter()
            .filter(|r| {
                r.step == step && matches!(r.status, LedgerStatus::Done | LedgerStatus::Refused)
            })
            .map(|r| r.key)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let key = format!("r{}/{step}#{}", token.run, done + 1);
        let prepared = match effects::prepare(
            &es.effect,
            bundle.manifest(),
            &self.store,
            token.run,
            &self.config,
        ) {
            Ok(p) => p,
            Err(e) => match self.recorded_prepared(&key) {
                Some(p) => p,
                None => return self.fault(&token, Some(&step), &e.to_string()),
            },
        };
        let Some((attempt, performed)) =
            self.run_effect(token, &key, &step, &prepared, Some(bundle))?
        else {
            return Ok(());
        };
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
        if !self.apply_outcome(bundle, &mut tick, &step, &performed.outcome)? {
            drop(tick);
            let msg = self.pending_fault.borrow_mut().take().unwrap_or_default();
            return self.fault(&token, Some(&step), &msg);
        }
        let meta =
            TickMeta::new(TickKind::Effect, format!("{step}: {}", performed.summary)).step(&step);
        self.commit(tick, meta, Some(bundle))?;
        Ok(())
    }
}
