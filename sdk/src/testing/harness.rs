//! Driving a bundle through its run in-process, against scripted outcomes.
//!
//! Each tick asks `next` (as loom does), produces the step's outcome from the script (an
//! agent's reply by role, a command's result by name, an applied diff, a gate decision by
//! gate), records a ledger row or a gate opening, hands the outcome to `apply`, writes the
//! changes into the installed [`View`] and runs `check`. It stops where loom would: a finish
//! or fail, a refusal, a failure, a violation (whose tick is not applied), or a step the
//! script has nothing for (a gate waiting for a decision, say).

use super::{with_mut, View};
use crate::{
    AgentReply, ApplyError, Bundle, Change, CommandResult, Decider, DiffResult, Effect, Failure,
    Gate, GateDecision, GateStatus, NextStep, Outcome, TickToken, Violation,
};
use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;

/// How a driven run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// `next` finished, with its summary.
    Finished(String),
    /// `next` failed the run, with its reason.
    Failed(String),
    /// `apply` refused the outcome of `step`.
    Refused { step: String, message: String },
    /// A call failed (`Err(Failure)`).
    Fault(Failure),
    /// `check` found violations after the tick's changes; the tick was not applied.
    Violated(Vec<Violation>),
    /// The script has no decision for the gate that is open.
    Waiting { gate: String },
    /// The script has no outcome for the effect of `step` (`what` says which is missing).
    Unscripted { step: String, what: String },
    /// The run took the harness's `max_ticks` without ending.
    MaxTicks,
}

/// One tick of a driven run.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub seq: u64,
    /// The phase the tick started in.
    pub phase: String,
    pub step: NextStep,
    pub outcome: Option<Outcome>,
    pub changes: Vec<Change>,
}

/// What a driven run went through.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub ticks: Vec<Tick>,
    pub end: End,
    /// The state the run was left in.
    pub view: View,
}

impl Trace {
    /// The phases the run went through, in order, each once per visit (the last is where it
    /// ended).
    pub fn phases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let visited = self.ticks.iter().map(|t| t.phase.as_str());
        for p in visited.chain([self.view.phase.as_str()]) {
            if out.last().map(String::as_str) != Some(p) {
                out.push(p.to_owned());
            }
        }
        out
    }

    /// The name of each tick's step (the effect's step, or the gate), in order.
    pub fn steps(&self) -> Vec<String> {
        self.ticks
            .iter()
            .filter_map(|t| match &t.step {
                NextStep::Effect(e) => Some(e.step.clone()),
                NextStep::Gate(g) => Some(g.gate.clone()),
                NextStep::Finish(_) | NextStep::Fail(_) => None,
            })
            .collect()
    }
}

/// Scripted decisions per gate, in order: (approved, note, edited text).
type Decisions = BTreeMap<String, VecDeque<(bool, Option<String>, Option<String>)>>;

/// A scripted run of bundle `B`. Build it, then [`Harness::run`].
pub struct Harness<B: Bundle> {
    view: View,
    replies: BTreeMap<String, VecDeque<AgentReply>>,
    commands: BTreeMap<String, VecDeque<CommandResult>>,
    diffs: VecDeque<DiffResult>,
    decisions: Decisions,
    max_ticks: usize,
    bundle: PhantomData<B>,
}

impl<B: Bundle> Default for Harness<B> {
    fn default() -> Self {
        Harness::new(View::new())
    }
}

impl<B: Bundle> Harness<B> {
    /// A run starting from `view` (in the manifest's first phase if the view names none),
    /// with the manifest's setting defaults.
    pub fn new(view: View) -> Harness<B> {
        Harness {
            view,
            replies: BTreeMap::new(),
            commands: BTreeMap::new(),
            diffs: VecDeque::new(),
            decisions: BTreeMap::new(),
            max_ticks: 100,
            bundle: PhantomData,
        }
    }

    /// The next reply of an agent in `role`.
    pub fn reply(mut self, role: &str, text: &str) -> Self {
        let reply = AgentReply {
            text: text.into(),
            touched: Vec::new(),
            diff_hash: None,
        };
        self.replies
            .entry(role.into())
            .or_default()
            .push_back(reply);
        self
    }

    /// The next run of command `name`.
    pub fn command(mut self, name: &str, exit_code: i32, output_tail: &str) -> Self {
        let result = CommandResult {
            exit_code,
            output_tail: output_tail.into(),
        };
        self.commands
            .entry(name.into())
            .or_default()
            .push_back(result);
        self
    }

    /// The result of the next apply-diff step (by default a diff applies cleanly).
    pub fn diff(mut self, result: DiffResult) -> Self {
        self.diffs.push_back(result);
        self
    }

    /// The next decision on `gate`: approved.
    pub fn approve(self, gate: &str) -> Self {
        self.decide(gate, true, None, None)
    }

    /// The next decision on `gate`: approved with `edited` replacing what was shown.
    pub fn approve_edited(self, gate: &str, edited: &str) -> Self {
        self.decide(gate, true, None, Some(edited))
    }

    /// The next decision on `gate`: rejected, saying why.
    pub fn reject(self, gate: &str, note: &str) -> Self {
        self.decide(gate, false, Some(note), None)
    }

    fn decide(mut self, gate: &str, ok: bool, note: Option<&str>, edited: Option<&str>) -> Self {
        let decision = (ok, note.map(Into::into), edited.map(Into::into));
        self.decisions
            .entry(gate.into())
            .or_default()
            .push_back(decision);
        self
    }

    /// The most ticks the run may take (100 by default).
    pub fn max_ticks(mut self, n: usize) -> Self {
        self.max_ticks = n;
        self
    }

    /// Drives the run until it ends. The view is installed on this thread while it runs.
    pub fn run(mut self) -> Trace {
        let manifest = B::manifest();
        let mut view = std::mem::take(&mut self.view).defaults_of(&manifest);
        if view.phase.is_empty() {
            view.phase = manifest.phases.first().cloned().unwrap_or_default();
        }
        let installed = view.install();
        let mut ticks = Vec::new();
        let end = self.drive(&manifest, &mut ticks);
        Trace {
            ticks,
            end,
            view: installed.view(),
        }
    }

    fn drive(&mut self, manifest: &crate::Manifest, ticks: &mut Vec<Tick>) -> End {
        for _ in 0..self.max_ticks {
            let (seq, phase) = with_mut(|v| {
                v.seq += 1;
                (v.seq, v.phase.clone())
            });
            let token = TickToken {
                run: 1,
                seq,
                unix_ms: 1_700_000_000_000 + seq * 1_000,
            };
            let step = match B::next(token) {
                Ok(step) => step,
                Err(f) => return End::Fault(f),
            };
            let mut tick = Tick {
                seq,
                phase,
                step: step.clone(),
                outcome: None,
                changes: Vec::new(),
            };
            let (name, outcome) = match &step {
                NextStep::Finish(text) => {
                    ticks.push(tick);
                    return End::Finished(text.clone());
                }
                NextStep::Fail(text) => {
                    ticks.push(tick);
                    return End::Failed(text.clone());
                }
                NextStep::Gate(g) => {
                    let decider = manifest
                        .gates
                        .iter()
                        .find(|d| d.name == g.gate)
                        .map_or(Decider::Human, |d| d.decider);
                    match self.decision(&g.gate, seq, decider) {
                        Some(d) => (g.gate.clone(), Outcome::Gate(d)),
                        None => {
                            ticks.push(tick);
                            return End::Waiting {
                                gate: g.gate.clone(),
                            };
                        }
                    }
                }
                NextStep::Effect(e) => match self.perform(&e.step, &e.effect) {
                    Ok(outcome) => (e.step.clone(), outcome),
                    Err(what) => {
                        ticks.push(tick);
                        return End::Unscripted {
                            step: e.step.clone(),
                            what,
                        };
                    }
                },
            };
            tick.outcome = Some(outcome.clone());
            let before = with_mut(|v| v.clone());
            record(&name, &outcome, &step);
            let changes = match B::apply(token, name.clone(), outcome) {
                Ok(changes) => changes,
                Err(ApplyError::Refused(message)) => {
                    ticks.push(tick);
                    return End::Refused {
                        step: name,
                        message,
                    };
                }
                Err(ApplyError::Failed(f)) => {
                    ticks.push(tick);
                    return End::Fault(f);
                }
            };
            with_mut(|v| changes.iter().for_each(|c| write(v, c)));
            tick.changes = changes;
            ticks.push(tick);
            match B::check(token) {
                Ok(found) if found.is_empty() => {}
                Ok(found) => {
                    // Loom rolls the tick back: its writes never happened.
                    let logs = with_mut(|v| std::mem::take(&mut v.logs));
                    with_mut(|v| *v = View { logs, ..before });
                    return End::Violated(found);
                }
                Err(f) => return End::Fault(f),
            }
        }
        End::MaxTicks
    }

    /// The scripted decision on `gate`, opening it in the view.
    fn decision(&mut self, gate: &str, seq: u64, decider: Decider) -> Option<GateDecision> {
        let (approved, note, edited) = self.decisions.get_mut(gate)?.pop_front()?;
        with_mut(|v| {
            v.gates.push(Gate {
                id: seq,
                name: gate.into(),
                status: GateStatus::Pending,
                decider,
                opened_tick: seq,
                decided_by: None,
                note: None,
            })
        });
        Some(GateDecision {
            gate: gate.into(),
            approved,
            decider,
            by: "test".into(),
            note,
            edited,
        })
    }

    /// The scripted outcome of an effect, or what is missing from the script.
    fn perform(&mut self, step: &str, effect: &Effect) -> Result<Outcome, String> {
        match effect {
            Effect::Agent(a) => self
                .replies
                .get_mut(&a.role)
                .and_then(VecDeque::pop_front)
                .map(Outcome::Agent)
                .ok_or_else(|| format!("a reply of role `{}` (Harness::reply)", a.role)),
            Effect::Command(c) => self
                .commands
                .get_mut(&c.name)
                .and_then(VecDeque::pop_front)
                .map(Outcome::Command)
                .ok_or_else(|| format!("a result of command `{}` (Harness::command)", c.name)),
            Effect::ApplyDiff(_) => {
                Ok(Outcome::Diff(self.diffs.pop_front().unwrap_or_else(|| {
                    DiffResult {
                        applied: true,
                        diff_hash: format!("diff-of-{step}"),
                        touched: Vec::new(),
                        error: None,
                    }
                })))
            }
        }
    }
}

/// Records the effect's ledger row, or the decision on the gate opened for it.
fn record(name: &str, outcome: &Outcome, step: &NextStep) {
    with_mut(|v| match outcome {
        Outcome::Gate(d) => {
            if let Some(g) = v.gates.iter_mut().rev().find(|g| g.name == name) {
                g.status = if d.approved {
                    GateStatus::Approved
                } else {
                    GateStatus::Rejected
                };
                g.decided_by = Some(d.by.clone());
                g.note = d.note.clone();
            }
        }
        _ => {
            let kind = match step {
                NextStep::Effect(e) => match e.effect {
                    Effect::Agent(_) => "agent",
                    Effect::ApplyDiff(_) => "apply-diff",
                    Effect::Command(_) => "command",
                },
                _ => "agent",
            };
            let entry = v.ledger_entry_for(name, kind, "done", "");
            v.ledger.push(entry);
        }
    });
}

/// Writes one change into the view, as loom writes it into the tick.
fn write(v: &mut View, change: &Change) {
    match change {
        Change::Phase(p) => v.phase = p.clone(),
        Change::PutFact(f) => v.put_fact(&f.kind, &f.key, f.value.clone()),
        Change::DropFact(f) => {
            v.facts.remove(&(f.kind.clone(), f.key.clone()));
        }
        Change::Note(_) => {}
    }
}
