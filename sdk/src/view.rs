//! The read-only state of the current run, seen through the tick's open transaction.
//!
//! These are the only inputs a bundle has besides the [`TickToken`](crate::TickToken) and the
//! step outcome: everything here is recorded, so a replay sees exactly the same values.
//!
//! Inside a wasm guest they call into loom. Natively (in `cargo test`) they read the scripted
//! view a test installed with [`crate::testing::View::install`], and panic, saying so, if
//! none is installed.
//!
//! Prefer the bounded reads ([`latest_gate`], [`ledger_of`], [`ledger_last`]) to [`gates`]
//! and [`ledger`]: those return every row of the run, so a call that reads them costs more
//! with every tick.

#[cfg(target_arch = "wasm32")]
use crate::bindings::view as source;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::double as source;
use crate::{Fact, Gate, LedgerEntry, Task};

/// The task this run works on.
pub fn task() -> Task {
    source::task()
}

/// The run's current phase (the engine starts a run in the manifest's first phase).
pub fn phase() -> String {
    source::phase()
}

/// All facts of one kind, ordered by key (as strings: `F10` sorts before `F2`).
pub fn facts(kind: &str) -> Vec<Fact> {
    source::facts(kind)
}

/// One fact, if it exists.
pub fn fact(kind: &str, key: &str) -> Option<Fact> {
    source::fact(kind, key)
}

/// Every opening of every gate in this run, oldest first. Grows with the run: prefer
/// [`latest_gate`].
pub fn gates() -> Vec<Gate> {
    source::gates()
}

/// The latest opening of gate `name`, if it was ever opened.
pub fn latest_gate(name: &str) -> Option<Gate> {
    source::latest_gate(name)
}

/// A summary of every ledger row (one per effect attempt) in this run, oldest first. Grows
/// with the run: prefer [`ledger_of`] or [`ledger_last`].
pub fn ledger() -> Vec<LedgerEntry> {
    source::ledger()
}

/// The ledger rows of one step, oldest first.
pub fn ledger_of(step: &str) -> Vec<LedgerEntry> {
    source::ledger_of(step)
}

/// The newest `limit` ledger rows, oldest first.
pub fn ledger_last(limit: u32) -> Vec<LedgerEntry> {
    source::ledger_last(limit)
}

/// A bundle setting from the project's configuration, as JSON text: the project's value, else
/// the default the manifest declares for it, else `None`.
pub fn setting(key: &str) -> Option<String> {
    source::setting(key)
}
