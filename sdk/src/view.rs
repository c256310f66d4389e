//! The read-only state of the current run, seen through the tick's open transaction.
//!
//! These are the only inputs a bundle has besides the [`TickToken`](crate::TickToken) and the
//! step outcome: everything here is recorded, so a replay sees exactly the same values.
//!
//! They call into the host and so only work inside a wasm guest; on any other target they
//! panic. Keep bundle logic in plain functions over a snapshot you build from these (see the
//! `code` bundle's `State`), and test those functions natively.

use crate::bindings::view;
use crate::{Fact, Gate, LedgerEntry, Task};

/// The task this run works on.
pub fn task() -> Task {
    view::task()
}

/// The run's current phase (the engine starts a run in the manifest's first phase).
pub fn phase() -> String {
    view::phase()
}

/// All facts of one kind, ordered by key (as strings: `F10` sorts before `F2`).
pub fn facts(kind: &str) -> Vec<Fact> {
    view::facts(kind)
}

/// One fact, if it exists.
pub fn fact(kind: &str, key: &str) -> Option<Fact> {
    view::fact(kind, key)
}

/// Every opening of every gate in this run, oldest first.
pub fn gates() -> Vec<Gate> {
    view::gates()
}

/// A summary of every ledger row (one per effect attempt) in this run, oldest first.
pub fn ledger() -> Vec<LedgerEntry> {
    view::ledger()
}

/// A bundle setting from the project's configuration, as JSON text; `None` if unset.
pub fn setting(key: &str) -> Option<String> {
    view::setting(key)
}
