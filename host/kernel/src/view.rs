//! The read-only window a bundle has onto one run.
//!
//! A `View` reads through the same connection as the tick that is open, so inside a tick it sees
//! that tick's uncommitted writes (this is how commit-time invariants read the state they are
//! about to allow). It owns a reference-counted handle rather than borrowing, so a bundle host can
//! keep it in its per-call store data, which must be `'static`.

use crate::error::{KernelError, Result};
use crate::model::{Fact, Gate, LedgerRow, Run, Task};
use crate::query;
use rusqlite::Connection;
use std::rc::Rc;

#[derive(Clone)]
pub struct View {
    conn: Rc<Connection>,
    run: u64,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View").field("run", &self.run).finish()
    }
}

impl View {
    pub(crate) fn new(conn: Rc<Connection>, run: u64) -> View {
        View { conn, run }
    }

    pub fn run_id(&self) -> u64 {
        self.run
    }

    pub fn run(&self) -> Result<Run> {
        query::run(&self.conn, self.run)?.ok_or(KernelError::NoSuchRun(self.run))
    }

    pub fn task(&self) -> Result<Task> {
        let run = self.run()?;
        query::task(&self.conn, run.task_id)?
            .ok_or_else(|| KernelError::Corrupt(format!("run #{} has no task", self.run)))
    }

    pub fn phase(&self) -> Result<String> {
        Ok(self
            .conn
            .prepare_cached("SELECT phase FROM runs WHERE id = ?1")?
            .query_row([self.run as i64], |r| r.get(0))?)
    }

    pub fn facts(&self, kind: &str) -> Result<Vec<Fact>> {
        query::facts(&self.conn, self.run, kind)
    }

    pub fn fact(&self, kind: &str, key: &str) -> Result<Option<Fact>> {
        query::fact(&self.conn, self.run, kind, key)
    }

    /// How many facts the run holds (one count, no fact is read).
    pub fn fact_count(&self) -> Result<u64> {
        query::fact_count(&self.conn, self.run)
    }

    pub fn all_facts(&self) -> Result<Vec<Fact>> {
        query::all_facts(&self.conn, self.run)
    }

    pub fn gates(&self) -> Result<Vec<Gate>> {
        query::gates(&self.conn, self.run)
    }

    pub fn ledger(&self) -> Result<Vec<LedgerRow>> {
        query::ledger(&self.conn, self.run)
    }

    /// The latest opening of gate `name`: one indexed read, whatever the run's length.
    pub fn latest_gate(&self, name: &str) -> Result<Option<Gate>> {
        query::latest_gate(&self.conn, self.run, name)
    }

    /// The ledger rows of `step`, oldest first (as [`View::ledger`] orders them).
    pub fn ledger_of(&self, step: &str) -> Result<Vec<LedgerRow>> {
        query::ledger_of(&self.conn, self.run, step)
    }

    /// The newest `limit` ledger rows, oldest first (the tail of [`View::ledger`]).
    pub fn ledger_last(&self, limit: u32) -> Result<Vec<LedgerRow>> {
        query::ledger_last(&self.conn, self.run, limit)
    }

    /// One bundle setting (frozen into the run at its start), as JSON text.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        let settings: String = self
            .conn
            .prepare_cached("SELECT settings FROM runs WHERE id = ?1")?
            .query_row([self.run as i64], |r| r.get(0))?;
        let value: serde_json::Value = serde_json::from_str(&settings)
            .map_err(|e| KernelError::Corrupt(format!("run settings: {e}")))?;
        Ok(value.get(key).map(|v| v.to_string()))
    }

    pub fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        query::blob(&self.conn, hash)
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
