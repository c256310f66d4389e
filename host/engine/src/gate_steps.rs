//! Gate steps: opening a gate for the decider the policy names, holding for a human, a rule's
//! approval, an agent's decision, and the tick that records any decision.

use crate::driver::{Applied, UNCERTAIN_PREFIX};
use crate::effects::{self, Performed};
use crate::error::{EngineError, Result};
use crate::stops::Stop;
use crate::{policy, Decision, Engine};
use loom_kernel::{Decider, Gate, RunStatus, TickKind, TickMeta, TickToken};
use loom_runtime::{Bundle, GateDecision, GateStep, Outcome};

impl Engine {
    pub(crate) fn gate_step(&self, bundle: &Bundle, token: TickToken, g: GateStep) -> Result<()> {
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
            return self.fault(&token, Some(&g.gate), Stop::BundleFault { message: msg });
        };
        let pending = self.store.pending_gate(token.run, &g.gate)?;
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
                let whom = match self.run_format(token.run)? {
                    4.. => decider.with_article().to_owned(),
                    _ => format!("a {decider}"),
                };
                let meta = TickMeta::new(
                    TickKind::GateOpen,
                    format!("gate {} opened for {whom} to decide{why}", g.gate),
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
                    let rule = Decider::Rule;
                    self.decide_tick(bundle, token, &p, true, rule, "rule", None, None, None)
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
        if let Some(req) = self.abandon_waiting(token.run, token.seq) {
            self.abandon_tick(token, &req, Some((&key, attempt, &performed)))?;
            crate::mailbox::clear(&self.root);
            return Ok(());
        }
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
            None,
            Some((&key, attempt, &performed)),
        )
    }

    /// The bundle's `apply` refused a decision on `gate` (format 3 on). A person's decision
    /// is not recorded at all: they are told why and the gate stays open. An agent's or a
    /// rule's stops the run in a tick of its own, keeping the agent's paid answer.
    fn decision_refused(
        &self,
        bundle: &Bundle,
        token: &TickToken,
        gate: &Gate,
        decider: Decider,
        message: String,
        result: Option<(&str, u32, &Performed)>,
    ) -> Result<()> {
        let bundle = bundle.manifest().name.clone();
        if decider == Decider::Human {
            return Err(EngineError::DecisionRefused {
                bundle,
                gate: gate.name.clone(),
                message,
            });
        }
        let stop = Stop::ResultRefused {
            bundle,
            step: gate.name.clone(),
            message,
        };
        self.fault_keeping(token, Some(&gate.name), stop, result)
    }

    /// The format version the run at `run` records in.
    pub(crate) fn run_format(&self, run: u64) -> Result<u32> {
        Ok(crate::api::RunOptions::parse(&self.store.run(run)?.options, run)?.format)
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
        edited: Option<&str>,
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
        tick.decide_gate_edited(gate.id, approved, decider, by, &transport, note, edited)?;
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
                edited: edited.map(str::to_owned),
            });
            match self.apply_outcome(bundle, &mut tick, &gate.name, &outcome)? {
                Applied::Done => {}
                Applied::Refused(message) if self.run_format(token.run)? >= 3 => {
                    drop(tick);
                    return self.decision_refused(bundle, &token, gate, decider, message, result);
                }
                // Format 2 and before recorded the decision and stopped the run.
                Applied::Refused(message) => {
                    self.stop_refused(bundle, &mut tick, &gate.name, message)?
                }
                Applied::Fault => {
                    drop(tick);
                    let msg = self.pending_fault.borrow_mut().take().unwrap_or_default();
                    let stop = Stop::BundleFault { message: msg };
                    return self.fault_keeping(&token, Some(&gate.name), stop, result);
                }
            }
        }
        if !failed && self.store.view(token.run).run()?.status != RunStatus::Running {
            tick.set_status(RunStatus::Running, None)?;
        }
        let verdict = match (approved, edited.is_some()) {
            (true, false) => "approved",
            (true, true) => "approved with edits",
            (false, _) => "rejected",
        };
        let note_text = note.map(|n| format!(": {n}")).unwrap_or_default();
        // Format 4 names the decider once when the name says it ("rule approved", not
        // "rule (rule) approved").
        let who = if by == decider.as_str() && self.run_format(token.run)? >= 4 {
            by.to_owned()
        } else {
            format!("{by} ({decider})")
        };
        let mut meta = TickMeta::new(
            TickKind::Decision,
            format!("{who} {verdict} gate {}{note_text}", gate.name),
        )
        .step(&gate.name)
        .decider(decider.as_str());
        if decider == Decider::Human {
            meta.on_violation = RunStatus::Waiting;
        }
        self.commit_with(tick, meta, Some(bundle), result)?;
        Ok(())
    }
}

/// The edit `d` carries, checked against `gate` and its bundle: `None` for a decision without
/// one (or an "edit" that leaves the text as shown). Refused, with nothing recorded: an edit
/// on a gate the bundle does not mark editable, with a rejection, from anyone but a person,
/// or one that leaves nothing.
pub(crate) fn checked_edit(bundle: &Bundle, gate: &Gate, d: &Decision) -> Result<Option<String>> {
    let Some(text) = &d.edited else {
        return Ok(None);
    };
    let editable = bundle
        .manifest()
        .gates
        .iter()
        .any(|g| g.name == gate.name && g.editable);
    if !editable {
        return Err(EngineError::Usage(format!(
            "gate {} is not editable (its bundle does not mark it so); approve or reject it as \
             shown",
            gate.name
        )));
    }
    if !d.approved {
        return Err(EngineError::Usage(format!(
            "gate {}: only an approval can carry edits; reject it with a reason instead",
            gate.name
        )));
    }
    if d.origin.actor != crate::Actor::Human {
        return Err(EngineError::Forbidden(format!(
            "gate {}: only a person approves with edits; {} (via {}) can approve or reject it \
             as shown",
            gate.name, d.origin.who, d.origin.transport
        )));
    }
    if text.trim().is_empty() {
        return Err(EngineError::Usage(format!(
            "gate {}: the edited text is empty; approve it as shown, or reject it with a reason",
            gate.name
        )));
    }
    Ok((text != &gate.summary).then(|| text.clone()))
}
