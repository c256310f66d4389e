//! A snapshot of everything the bundle's logic reads, and typed access to its facts.
//!
//! The logic (`logic`, `rules`) is pure functions over a [`State`]: the wasm glue builds one
//! from `loom_sdk::view`, the tests build one by hand. The fact schema is documented in the
//! README; each fact value is a JSON object, read here through serde and written through
//! [`put`].

use std::collections::BTreeMap;

use loom_sdk::{Change, Gate, GateStatus, LedgerEntry, Task};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// Every fact kind this bundle writes (and so every kind a snapshot needs).
pub const FACT_KINDS: &[&str] = &[
    "stage", "plan", "diff", "review", "finding", "touched", "rounds", "test", "failure",
];

#[derive(Clone, Debug)]
pub struct State {
    pub task: Task,
    pub phase: String,
    /// `(kind, key)` to the fact's JSON text, as stored.
    pub facts: BTreeMap<(String, String), String>,
    /// Openings of gates, oldest first: for the logic, the latest of each declared gate;
    /// for the rules, every one.
    pub gates: Vec<Gate>,
    /// The ledger rows of the steps whose results the logic uses (`implement`, `fix`), each
    /// step's oldest first.
    pub ledger: Vec<LedgerEntry>,
    pub settings: Settings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The agent is to write a diff.
    Write,
    /// The written diff is to be applied.
    Apply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Blocking,
    Minor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Resolved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Review,
    Test,
    Human,
}

/// `("finding", "F<n>")`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub status: Status,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub source: Source,
}

impl Finding {
    pub fn is_open_blocking(&self) -> bool {
        self.status == Status::Open && self.severity == Severity::Blocking
    }

    /// `F1 [blocking] text (path)`, as the fix prompt and the accept summary show it.
    pub fn line(&self, id: &str) -> String {
        let sev = match self.severity {
            Severity::Blocking => "blocking",
            Severity::Minor => "minor",
        };
        match &self.path {
            Some(p) => format!("{id} [{sev}] {} ({p})", self.text),
            None => format!("{id} [{sev}] {}", self.text),
        }
    }
}

/// `("stage", "current")`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageFact {
    pub name: Stage,
}

/// `("plan", "text")` and `("failure", "reason")`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TextFact {
    pub text: String,
}

/// `("diff", "latest")`: the last applied diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffFact {
    pub hash: String,
    pub text: String,
    pub round: u32,
}

/// `("diff", "pending")`: a diff extracted from a reply, waiting to be applied.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingDiff {
    pub text: String,
    /// the step whose reply it came from: `implement` or `fix`
    pub step: String,
}

/// `("review", "latest")`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReviewFact {
    /// hash of the diff that review saw
    pub diff: String,
}

/// `("touched", "<path>")`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TouchedFact {
    pub test: bool,
}

/// `("rounds", "fix")`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundsFact {
    pub n: u32,
}

/// `("test", "latest")`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestFact {
    pub exit: i32,
    /// hash of the diff the tests ran on
    pub diff: String,
}

/// A change writing `value` as fact `(kind, key)`.
pub fn put<T: Serialize>(kind: &str, key: &str, value: &T) -> Result<Change, String> {
    let json =
        serde_json::to_value(value).map_err(|e| format!("encoding fact {kind}/{key}: {e}"))?;
    Ok(Change::put_fact(kind, key, &json))
}

impl State {
    /// A fresh run's state: phase `plan`, nothing recorded.
    pub fn new(task: Task, settings: Settings) -> State {
        State {
            task,
            phase: "plan".into(),
            facts: BTreeMap::new(),
            gates: Vec::new(),
            ledger: Vec::new(),
            settings,
        }
    }

    /// Reads the snapshot for the logic through the view, with bounded reads only: the
    /// latest opening of each gate and the ledger rows of the two steps whose diffs are
    /// applied, so a tick's cost does not grow with the run.
    pub fn read(settings: Settings) -> State {
        use loom_sdk::view;
        let gates = ["plan", "accept"]
            .into_iter()
            .filter_map(view::latest_gate)
            .collect();
        let mut state = Self::read_around(gates, settings);
        state.ledger = ["implement", "fix"]
            .into_iter()
            .flat_map(view::ledger_of)
            .collect();
        state
    }

    /// The snapshot without the ledger, with `gates` as read by the caller (the rules read
    /// none of the ledger).
    pub fn read_around(gates: Vec<Gate>, settings: Settings) -> State {
        use loom_sdk::view;
        let mut facts = BTreeMap::new();
        for kind in FACT_KINDS {
            for f in view::facts(kind) {
                facts.insert((f.kind, f.key), f.value);
            }
        }
        State {
            task: view::task(),
            phase: view::phase(),
            facts,
            gates,
            ledger: Vec::new(),
            settings,
        }
    }

    /// Fact `(kind, key)` decoded as `T`; `None` when absent or not the documented shape.
    pub fn get<T: DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        let text = self.facts.get(&(kind.to_owned(), key.to_owned()))?;
        serde_json::from_str(text).ok()
    }

    /// Every fact of `kind` that decodes as `T`, by key.
    pub fn all<T: DeserializeOwned>(&self, kind: &str) -> Vec<(String, T)> {
        self.facts
            .iter()
            .filter(|((k, _), _)| k == kind)
            .filter_map(|((_, key), text)| Some((key.clone(), serde_json::from_str(text).ok()?)))
            .collect()
    }

    pub fn stage(&self) -> Stage {
        self.get::<StageFact>("stage", "current")
            .map_or(Stage::Write, |s| s.name)
    }

    pub fn plan(&self) -> Option<String> {
        self.get::<TextFact>("plan", "text").map(|p| p.text)
    }

    pub fn diff(&self) -> Option<DiffFact> {
        self.get("diff", "latest")
    }

    pub fn pending_diff(&self) -> Option<PendingDiff> {
        self.get("diff", "pending")
    }

    pub fn reviewed_diff(&self) -> Option<String> {
        self.get::<ReviewFact>("review", "latest").map(|r| r.diff)
    }

    pub fn fix_rounds(&self) -> u32 {
        self.get::<RoundsFact>("rounds", "fix").map_or(0, |r| r.n)
    }

    pub fn rounds_left(&self) -> bool {
        self.fix_rounds() < self.settings.max_fix_rounds
    }

    pub fn test(&self) -> Option<TestFact> {
        self.get("test", "latest")
    }

    pub fn failure(&self) -> Option<String> {
        self.get::<TextFact>("failure", "reason").map(|f| f.text)
    }

    /// Every finding, in id order (`F2` before `F10`).
    pub fn findings(&self) -> Vec<(String, Finding)> {
        let mut all: Vec<(String, Finding)> = self.all("finding");
        all.sort_by_key(|(id, _)| (finding_number(id), id.clone()));
        all
    }

    /// The open findings, in id order.
    pub fn open_findings(&self) -> Vec<(String, Finding)> {
        self.findings()
            .into_iter()
            .filter(|(_, f)| f.status == Status::Open)
            .collect()
    }

    /// The id the next new finding gets: `F<number of finding facts + 1>`.
    pub fn next_finding_number(&self) -> usize {
        self.facts.keys().filter(|(k, _)| k == "finding").count() + 1
    }

    /// Touched paths and whether each is a test file, by path.
    pub fn touched(&self) -> Vec<(String, bool)> {
        self.all::<TouchedFact>("touched")
            .into_iter()
            .map(|(p, t)| (p, t.test))
            .collect()
    }

    /// The key of the latest completed ledger entry of `step`.
    pub fn latest_done(&self, step: &str) -> Option<&str> {
        self.ledger
            .iter()
            .rev()
            .find(|e| e.step == step && e.status == "done")
            .map(|e| e.key.as_str())
    }

    /// The latest opening of gate `name`.
    pub fn latest_gate(&self, name: &str) -> Option<&Gate> {
        self.gates.iter().rev().find(|g| g.name == name)
    }

    /// Every approved opening of gate `name`.
    pub fn approved<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Gate> + 'a {
        self.gates
            .iter()
            .filter(move |g| g.name == name && g.status == GateStatus::Approved)
    }
}

/// `F12` → 12; anything else sorts last.
fn finding_number(id: &str) -> usize {
    id.strip_prefix('F')
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}
