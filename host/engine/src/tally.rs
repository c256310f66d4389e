//! What the engine reads of a run's ledger on every tick, kept as running counts: how many
//! effects of each step are settled (the next one's key), how many calls each agent role has
//! completed (its turn), what the run has spent (the budget), and which diff applications
//! never finished (a retry's pre-image).
//!
//! Reading the whole ledger for these at every tick made a tick's cost grow with the run. The
//! tally instead reads the ledger once, then only the rows stored since the last row it saw,
//! plus the few it saw without a final status (an intent): a final status never changes, so a
//! row counted once is counted for good. It is folded forward only from committed rows
//! (outside any transaction), so a tick that rolls back leaves nothing in it; inside an open
//! tick, [`Tally::spent_in_tick`] adds the tick's own rows to a copy. A new process, or another
//! run, starts it again from the ledger, which is what makes it exact after a crash and in a
//! replay: it is a function of the committed ledger, and a test checks it against a recount.

use crate::budget::Running;
use crate::error::Result;
use crate::run_effect::settled;
use loom_kernel::{LedgerRow, LedgerStatus, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The ledger kind of an agent call and of applying a diff, as the effects record them.
const AGENT: &str = "agent";
const APPLY_DIFF: &str = "apply-diff";

#[derive(Debug)]
pub(crate) struct Tally {
    run: u64,
    /// Table id of the last ledger row folded in.
    through: i64,
    /// Rows folded in while they were intents: read again until their status is final.
    open: BTreeSet<i64>,
    /// The keys with a settled row, by step.
    settled: HashMap<String, HashSet<String>>,
    /// Settled agent calls by role.
    turns: HashMap<String, u32>,
    spent: Running,
    /// Diff applications (table id → row) whose key had no finished attempt when last seen.
    unfinished_diffs: BTreeMap<i64, LedgerRow>,
}

impl Tally {
    /// The tally of `run`'s committed ledger.
    pub(crate) fn new(store: &Store, run: u64) -> Result<Tally> {
        let mut t = Tally {
            run,
            through: 0,
            open: BTreeSet::new(),
            settled: HashMap::new(),
            turns: HashMap::new(),
            spent: Running::default(),
            unfinished_diffs: BTreeMap::new(),
        };
        t.refresh(store)?;
        Ok(t)
    }

    pub(crate) fn run(&self) -> u64 {
        self.run
    }

    /// Folds in what was committed since the last look. Outside a transaction only: inside
    /// one it would count rows that may yet roll back.
    pub(crate) fn refresh(&mut self, store: &Store) -> Result<()> {
        debug_assert!(!store.in_transaction(), "a tally folds committed rows only");
        for id in std::mem::take(&mut self.open) {
            // A row is never deleted; one that were would have nothing left to count.
            if let Some(row) = store.ledger_row(self.run, id)? {
                self.fold(id, row, true);
            }
        }
        for (id, row) in store.ledger_after(self.run, self.through)? {
            self.through = self.through.max(id);
            self.fold(id, row, false);
        }
        Ok(())
    }

    /// Counts row `id`; `again` when it is an intent seen before, read again.
    fn fold(&mut self, id: i64, row: LedgerRow, again: bool) {
        let diff = row.kind == APPLY_DIFF;
        if matches!(row.status, LedgerStatus::Done | LedgerStatus::Refused) {
            // The key is finished: none of its attempts is a retry's candidate any more.
            self.unfinished_diffs.retain(|_, d| d.key != row.key);
        } else if diff && !again {
            self.unfinished_diffs.insert(id, row.clone());
        } else if let Some(seen) = self.unfinished_diffs.get_mut(&id) {
            // Still a candidate (its key did not finish meanwhile): keep its status current.
            seen.clone_from(&row);
        }
        if matches!(row.status, LedgerStatus::Intent) {
            self.open.insert(id);
            return;
        }
        self.spent.add(&row);
        if settled(&row) {
            if row.kind == AGENT {
                if let Some(role) = role_of(&row) {
                    *self.turns.entry(role).or_default() += 1;
                }
            }
            self.settled
                .entry(row.step.clone())
                .or_default()
                .insert(row.key);
        }
    }

    /// How many distinct effects of `step` are settled: the next one is number this + 1.
    pub(crate) fn settled_keys(&self, step: &str) -> usize {
        self.settled.get(step).map_or(0, HashSet::len)
    }

    /// How many calls `role` completed in this run.
    pub(crate) fn turn(&self, role: &str) -> u32 {
        self.turns.get(role).copied().unwrap_or(0)
    }

    /// The attempts at applying a diff under keys with no finished attempt, oldest first.
    pub(crate) fn unfinished_diffs(&self) -> impl Iterator<Item = &LedgerRow> {
        self.unfinished_diffs.values()
    }

    /// The run's spend as the open tick has it: the committed tally plus the rows the tick
    /// (and the intents before it) wrote since.
    pub(crate) fn spent_in_tick(&self, store: &Store) -> Result<Running> {
        let mut spent = self.spent.clone();
        for id in &self.open {
            if let Some(row) = store.ledger_row(self.run, *id)? {
                spent.add(&row);
            }
        }
        for (_, row) in store.ledger_after(self.run, self.through)? {
            spent.add(&row);
        }
        Ok(spent)
    }

    #[cfg(test)]
    pub(crate) fn spent(&self) -> &Running {
        &self.spent
    }
}

impl crate::Engine {
    /// `read` of the tally of `run`, brought up to what is committed first (so: outside a
    /// transaction). A tally that fails to refresh is dropped and read again from the ledger
    /// next time.
    pub(crate) fn with_tally<R>(&self, run: u64, read: impl FnOnce(&Tally) -> R) -> Result<R> {
        let mut slot = self.tally.borrow_mut();
        let tally = match slot.take() {
            Some(mut t) if t.run() == run => {
                t.refresh(&self.store)?;
                t
            }
            _ => Tally::new(&self.store, run)?,
        };
        let out = read(&tally);
        *slot = Some(tally);
        Ok(out)
    }
}

/// The agent role a row's metadata names (metadata that does not parse names none, as it
/// always did for counting turns).
fn role_of(row: &LedgerRow) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&row.meta)
        .ok()
        .and_then(|m| m["role"].as_str().map(str::to_owned))
}

#[cfg(test)]
#[path = "tally_tests.rs"]
mod tests;
