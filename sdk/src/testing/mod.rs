//! Testing a bundle natively, in `cargo test`, without loom (native builds only).
//!
//! [`View`] is a scripted stand-in for loom's view: build the run's state (task, phase,
//! facts, gates, ledger rows, settings), [`View::install`] it, and every [`crate::view`]
//! call on this thread reads it, so the real `Bundle` impl runs unchanged:
//!
//! ```
//! use loom_sdk::testing::View;
//! use loom_sdk::{view, GateStatus};
//!
//! let _view = View::new()
//!     .task("greet the team")
//!     .phase("approve")
//!     .fact("greeting", "text", &serde_json::json!({"text": "hello"}))
//!     .gate("approve", GateStatus::Pending)
//!     .install();
//! assert_eq!(view::phase(), "approve");
//! assert_eq!(view::latest_gate("approve").map(|g| g.status), Some(GateStatus::Pending));
//! ```
//!
//! [`Harness`] drives a bundle's `next` and `apply` tick by tick against scripted replies,
//! command results and gate decisions, as loom would, applying its changes to the view and
//! checking its rules after each, and returns a [`Trace`] of the phases it went through and
//! how the run ended.

mod harness;

pub use harness::{End, Harness, Tick, Trace};

use crate::bindings::log::Level;
use crate::{Decider, Fact, Gate, GateStatus, LedgerEntry, Manifest, Task};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The run's state as a test scripts it. Cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub(crate) task: Task,
    pub(crate) phase: String,
    pub(crate) facts: BTreeMap<(String, String), Fact>,
    pub(crate) gates: Vec<Gate>,
    pub(crate) ledger: Vec<LedgerEntry>,
    /// The project's settings (JSON text), then the manifest's declared defaults.
    pub(crate) settings: BTreeMap<String, String>,
    pub(crate) defaults: BTreeMap<String, String>,
    pub(crate) logs: Vec<String>,
    /// The seq of the latest tick, for the `tick` of what is written next.
    pub(crate) seq: u64,
}

impl Default for View {
    fn default() -> View {
        View::new()
    }
}

impl View {
    /// Run 1 of task #1 "a test task", in no phase yet (the [`Harness`] starts in the
    /// manifest's first), with nothing recorded.
    pub fn new() -> View {
        View {
            task: Task {
                id: 1,
                title: "a test task".into(),
            },
            phase: String::new(),
            facts: BTreeMap::new(),
            gates: Vec::new(),
            ledger: Vec::new(),
            settings: BTreeMap::new(),
            defaults: BTreeMap::new(),
            logs: Vec::new(),
            seq: 1,
        }
    }

    /// The task's title (what `loom run "…"` was given).
    pub fn task(mut self, title: &str) -> View {
        self.task.title = title.into();
        self
    }

    pub fn phase(mut self, phase: &str) -> View {
        self.phase = phase.into();
        self
    }

    /// Fact `(kind, key)` with a JSON value.
    pub fn fact(mut self, kind: &str, key: &str, value: &serde_json::Value) -> View {
        self.put_fact(kind, key, value.to_string());
        self
    }

    /// An opening of gate `name` with `status`, decided (if it is) by a human.
    pub fn gate(self, name: &str, status: GateStatus) -> View {
        let decided = status != GateStatus::Pending;
        let id = self.gates.len() as u64 + 1;
        let opened_tick = self.seq;
        self.gate_row(Gate {
            id,
            name: name.into(),
            status,
            decider: Decider::Human,
            opened_tick,
            decided_by: decided.then(|| "test".to_owned()),
            note: None,
        })
    }

    /// An opening of a gate exactly as given.
    pub fn gate_row(mut self, gate: Gate) -> View {
        self.gates.push(gate);
        self
    }

    /// A completed ledger row of `step` (key `r1/<step>#<n>`, kind `agent`).
    pub fn ledger(mut self, step: &str, summary: &str) -> View {
        let entry = self.ledger_entry_for(step, "agent", "done", summary);
        self.ledger.push(entry);
        self
    }

    /// A ledger row exactly as given.
    pub fn ledger_row(mut self, entry: LedgerEntry) -> View {
        self.ledger.push(entry);
        self
    }

    /// A project setting (`[bundle]` in loom.toml), as its JSON value.
    pub fn setting(mut self, key: &str, value: &serde_json::Value) -> View {
        self.settings.insert(key.into(), value.to_string());
        self
    }

    /// Takes the defaults `manifest` declares for its settings, as loom does for a bundle.
    pub fn defaults_of(mut self, manifest: &Manifest) -> View {
        for s in &manifest.needs.settings {
            if let Some(d) = &s.default {
                self.defaults.insert(s.key.clone(), d.clone());
            }
        }
        self
    }

    /// Makes this the view every [`crate::view`] call on this thread reads, until the
    /// returned guard is dropped.
    pub fn install(self) -> Installed {
        INSTALLED.with(|v| *v.borrow_mut() = Some(self));
        Installed { _private: () }
    }

    /// The lines written to [`crate::log`] while installed, as `level: message`.
    pub fn logs(&self) -> &[String] {
        &self.logs
    }

    pub fn facts_of(&self, kind: &str) -> Vec<Fact> {
        self.facts
            .values()
            .filter(|f| f.kind == kind)
            .cloned()
            .collect()
    }

    pub fn current_phase(&self) -> &str {
        &self.phase
    }

    pub fn all_gates(&self) -> &[Gate] {
        &self.gates
    }

    pub fn all_ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    pub(crate) fn put_fact(&mut self, kind: &str, key: &str, value: String) {
        let fact = Fact {
            kind: kind.into(),
            key: key.into(),
            value,
            tick: self.seq,
        };
        self.facts.insert((kind.into(), key.into()), fact);
    }

    pub(crate) fn ledger_entry_for(
        &self,
        step: &str,
        kind: &str,
        status: &str,
        summary: &str,
    ) -> LedgerEntry {
        let n = self.ledger.iter().filter(|e| e.step == step).count() + 1;
        LedgerEntry {
            key: format!("r1/{step}#{n}"),
            step: step.into(),
            kind: kind.into(),
            attempt: 1,
            status: status.into(),
            summary: summary.into(),
            tick: self.seq,
        }
    }
}

/// The installed [`View`]; dropping it uninstalls the view.
#[must_use = "the view is uninstalled when this guard is dropped"]
pub struct Installed {
    _private: (),
}

impl Installed {
    /// A copy of the view as it is now (with what a [`Harness`] or a log call changed).
    pub fn view(&self) -> View {
        with(View::clone)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        INSTALLED.with(|v| *v.borrow_mut() = None);
    }
}

thread_local! {
    static INSTALLED: RefCell<Option<View>> = const { RefCell::new(None) };
}

/// Runs `f` on the installed view; panics, saying what to do, when there is none.
pub(crate) fn with<R>(f: impl FnOnce(&View) -> R) -> R {
    INSTALLED.with(|v| match v.borrow().as_ref() {
        Some(view) => f(view),
        None => panic!(
            "a loom_sdk::view function was called outside a wasm guest with no test view \
             installed; build one with loom_sdk::testing::View::new()…install() first"
        ),
    })
}

pub(crate) fn with_mut<R>(f: impl FnOnce(&mut View) -> R) -> R {
    INSTALLED.with(|v| match v.borrow_mut().as_mut() {
        Some(view) => f(view),
        None => panic!("no loom_sdk::testing::View is installed"),
    })
}

/// The native stand-in for the `view` and `log` imports, with the same signatures.
pub(crate) mod double {
    use super::{with, Level, INSTALLED};
    use crate::{Fact, Gate, LedgerEntry, Task};

    pub(crate) fn task() -> Task {
        with(|v| v.task.clone())
    }

    pub(crate) fn phase() -> String {
        with(|v| v.phase.clone())
    }

    pub(crate) fn facts(kind: &str) -> Vec<Fact> {
        with(|v| v.facts_of(kind))
    }

    pub(crate) fn fact(kind: &str, key: &str) -> Option<Fact> {
        with(|v| v.facts.get(&(kind.to_owned(), key.to_owned())).cloned())
    }

    pub(crate) fn gates() -> Vec<Gate> {
        with(|v| v.gates.clone())
    }

    pub(crate) fn latest_gate(name: &str) -> Option<Gate> {
        with(|v| v.gates.iter().rev().find(|g| g.name == name).cloned())
    }

    pub(crate) fn ledger() -> Vec<LedgerEntry> {
        with(|v| v.ledger.clone())
    }

    pub(crate) fn ledger_of(step: &str) -> Vec<LedgerEntry> {
        with(|v| {
            v.ledger
                .iter()
                .filter(|e| e.step == step)
                .cloned()
                .collect()
        })
    }

    pub(crate) fn ledger_last(limit: u32) -> Vec<LedgerEntry> {
        with(|v| {
            let from = v.ledger.len().saturating_sub(limit as usize);
            v.ledger[from..].to_vec()
        })
    }

    pub(crate) fn setting(key: &str) -> Option<String> {
        with(|v| v.settings.get(key).or_else(|| v.defaults.get(key)).cloned())
    }

    /// Kept in the installed view, if any; dropped otherwise (logging never panics).
    pub(crate) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        INSTALLED.with(|v| {
            if let Some(view) = v.borrow_mut().as_mut() {
                view.logs.push(format!("{level}: {message}"));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{log, view, SettingDecl};
    use serde_json::json;

    #[test]
    fn the_view_functions_read_the_installed_view() {
        let m = Manifest::new("b", "1").setting(SettingDecl::integer("rounds", "").default(3));
        let installed = View::new()
            .task("t")
            .phase("p")
            .fact("k", "b", &json!(2))
            .fact("k", "a", &json!(1))
            .fact("other", "x", &json!(null))
            .gate("g", GateStatus::Rejected)
            .gate("g", GateStatus::Pending)
            .ledger("write", "first")
            .ledger("review", "ok")
            .ledger("write", "second")
            .setting("depth", &json!("deep"))
            .defaults_of(&m)
            .install();
        assert_eq!(view::task().title, "t");
        assert_eq!(view::phase(), "p");
        let keys: Vec<String> = view::facts("k").into_iter().map(|f| f.key).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(view::fact("k", "b").map(|f| f.value), Some("2".into()));
        assert_eq!(view::gates().len(), 2);
        assert_eq!(
            view::latest_gate("g").map(|g| g.status),
            Some(GateStatus::Pending)
        );
        let writes: Vec<String> = view::ledger_of("write")
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(writes, ["r1/write#1", "r1/write#2"]);
        let last: Vec<String> = view::ledger_last(2)
            .into_iter()
            .map(|e| e.summary)
            .collect();
        assert_eq!(last, ["ok", "second"]);
        assert_eq!(view::ledger_last(9).len(), 3);
        assert_eq!(view::setting("depth").as_deref(), Some("\"deep\""));
        assert_eq!(view::setting("rounds").as_deref(), Some("3"));
        assert_eq!(view::setting("nope"), None);
        log::warn("careful");
        assert_eq!(installed.view().logs(), ["warn: careful"]);
    }

    #[test]
    fn without_a_view_the_panic_says_what_to_do() {
        let e = std::panic::catch_unwind(view::phase).unwrap_err();
        let text = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(text.contains("testing::View::new()"), "{text}");
        // Logging without a view is harmless.
        log::info("nobody listens");
    }

    #[test]
    fn dropping_the_guard_uninstalls_the_view() {
        drop(View::new().phase("p").install());
        assert!(std::panic::catch_unwind(view::phase).is_err());
    }
}
