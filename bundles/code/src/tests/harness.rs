//! A fake loom: holds a [`State`], performs the steps the bundle asks for with scripted
//! outcomes, applies the changes and runs the rules inside each "tick", rolling back on a
//! violation like the kernel does.

use loom_sdk::{
    AgentReply, Change, CommandResult, Decider, DiffResult, Effect, EffectStep, Gate, GateDecision,
    GateStatus, GateStep, LedgerEntry, NextStep, Outcome, Task, Violation,
};

use crate::{logic, rules, Settings, State};

pub struct Run {
    pub s: State,
    seq: u64,
}

/// Why a tick did not commit.
#[derive(Debug)]
pub enum Refused {
    /// `apply` returned an error.
    Apply(String),
    /// The rules refused the state the tick would commit.
    Rules(Vec<Violation>),
}

impl Refused {
    pub fn rules(&self) -> Vec<&str> {
        match self {
            Refused::Rules(v) => v.iter().map(|v| v.rule.as_str()).collect(),
            Refused::Apply(_) => vec![],
        }
    }
}

impl Run {
    pub fn new() -> Run {
        Run::with(Settings::default())
    }

    pub fn with(settings: Settings) -> Run {
        let task = Task {
            id: 1,
            title: "add a --json flag".into(),
        };
        Run {
            s: State::new(task, settings),
            seq: 0,
        }
    }

    pub fn next(&self) -> NextStep {
        logic::next(&self.s)
    }

    /// Asserts the next step is effect `step` and returns it.
    pub fn expect_effect(&self, step: &str) -> EffectStep {
        match self.next() {
            NextStep::Effect(e) if e.step == step => e,
            other => panic!(
                "expected effect `{step}` in phase {}, got {other:?}",
                self.s.phase
            ),
        }
    }

    /// Asserts the next step is gate `gate` and returns it.
    pub fn expect_gate(&self, gate: &str) -> GateStep {
        match self.next() {
            NextStep::Gate(g) if g.gate == gate => g,
            other => panic!(
                "expected gate `{gate}` in phase {}, got {other:?}",
                self.s.phase
            ),
        }
    }

    /// Performs effect `step` (which must be next) with `outcome`: a done ledger row, then the
    /// bundle's changes, in one tick.
    pub fn effect(&mut self, step: &str, outcome: Outcome) -> Result<EffectStep, Refused> {
        let e = self.expect_effect(step);
        self.seq += 1;
        let kind = match &e.effect {
            Effect::Agent(_) => "agent",
            Effect::ApplyDiff(_) => "apply-diff",
            Effect::Command(_) => "command",
        };
        let mut s = self.s.clone();
        s.ledger.push(LedgerEntry {
            key: format!("r1-{}-{step}", self.seq),
            step: step.into(),
            kind: kind.into(),
            attempt: 1,
            status: "done".into(),
            summary: String::new(),
            tick: self.seq,
        });
        self.commit(s, step, &outcome)?;
        Ok(e)
    }

    /// Opens gate `gate` (which must be next) and decides it, in one tick.
    pub fn decide(
        &mut self,
        gate: &str,
        approved: bool,
        decider: Decider,
        note: Option<&str>,
    ) -> Result<GateStep, Refused> {
        self.decide_edited(gate, approved, decider, note, None)
    }

    /// [`Run::decide`], approving `edited` instead of what the gate showed.
    pub fn decide_edited(
        &mut self,
        gate: &str,
        approved: bool,
        decider: Decider,
        note: Option<&str>,
        edited: Option<&str>,
    ) -> Result<GateStep, Refused> {
        let g = self.expect_gate(gate);
        self.seq += 1;
        let by = format!("{}:tester", decider.as_str());
        let mut s = self.s.clone();
        s.gates.push(Gate {
            id: self.seq,
            name: gate.into(),
            status: if approved {
                GateStatus::Approved
            } else {
                GateStatus::Rejected
            },
            decider,
            opened_tick: self.seq,
            decided_by: Some(by.clone()),
            note: note.map(Into::into),
        });
        let outcome = Outcome::Gate(GateDecision {
            gate: gate.into(),
            approved,
            decider,
            by,
            note: note.map(Into::into),
            edited: edited.map(Into::into),
        });
        self.commit(s, gate, &outcome)?;
        Ok(g)
    }

    fn commit(&mut self, mut s: State, step: &str, outcome: &Outcome) -> Result<(), Refused> {
        // `apply` sees the state before this tick's writes, as in loom.
        let changes = logic::apply(&self.s, step, outcome).map_err(Refused::Apply)?;
        for c in changes {
            match c {
                Change::Phase(p) => s.phase = p,
                Change::PutFact(f) => {
                    assert!(serde_json::from_str::<serde_json::Value>(&f.value)
                        .is_ok_and(|v| v.is_object()));
                    s.facts.insert((f.kind, f.key), f.value);
                }
                Change::DropFact(f) => {
                    s.facts.remove(&(f.kind, f.key));
                }
                Change::Note(_) => {}
            }
        }
        let violations = rules::check(&s);
        // The wasm glue skips reading the state when no rule may fire; hold it to that.
        assert!(rules::may_fire(s.latest_gate("accept")) || violations.is_empty());
        if !violations.is_empty() {
            return Err(Refused::Rules(violations));
        }
        self.s = s;
        Ok(())
    }

    /// A raw fact value, parsed.
    pub fn fact(&self, kind: &str, key: &str) -> Option<serde_json::Value> {
        let text = self.s.facts.get(&(kind.to_owned(), key.to_owned()))?;
        serde_json::from_str(text).ok()
    }
}

pub fn agent(text: &str) -> Outcome {
    Outcome::Agent(AgentReply {
        text: text.into(),
        touched: vec![],
        diff_hash: None,
    })
}

pub fn diff_applied(hash: &str, touched: &[&str]) -> Outcome {
    Outcome::Diff(DiffResult {
        applied: true,
        diff_hash: hash.into(),
        touched: touched.iter().map(|p| (*p).to_owned()).collect(),
        error: None,
    })
}

pub fn diff_failed(error: &str) -> Outcome {
    Outcome::Diff(DiffResult {
        applied: false,
        diff_hash: String::new(),
        touched: vec![],
        error: Some(error.into()),
    })
}

pub fn command(exit_code: i32, output: &str) -> Outcome {
    Outcome::Command(CommandResult {
        exit_code,
        output_tail: output.into(),
    })
}

pub const DIFF: &str = "--- a/src/cli.rs\n+++ b/src/cli.rs\n@@ -1 +1 @@\n-old\n+new\n";

/// An implementer reply: prose around a fenced diff.
pub fn diff_reply() -> String {
    format!("Here is the change:\n```diff\n{DIFF}```\nDone.")
}

pub const CLEAN: &str = r#"{"findings":[]}"#;

pub fn blocking(text: &str) -> String {
    format!(r#"{{"findings":[{{"severity":"blocking","text":"{text}","path":"src/cli.rs"}}]}}"#)
}

/// Drives a fresh run from `plan` to the `review` phase with the first diff applied.
pub fn to_review(run: &mut Run, touched: &[&str]) {
    run.effect("plan", agent("1. add the flag\n2. test it"))
        .unwrap();
    run.decide("plan", true, Decider::Rule, None).unwrap();
    run.effect("implement", agent(&diff_reply())).unwrap();
    run.effect("apply", diff_applied("h1", touched)).unwrap();
    assert_eq!(run.s.phase, "review");
}
