//! Reading a project for a transport, on read-only connections of its own: a read never
//! queues behind the engine thread's work.

use crate::{Result, ServiceError};
use loom_engine::{project, reads, EngineError};
use loom_kernel::{Gate, LedgerRow, Store};
use std::path::{Path, PathBuf};

/// Reads a project on read-only connections of its own (one per call: cheap, and `Send`).
#[derive(Clone, Debug)]
pub struct Reader {
    pub(crate) root: PathBuf,
}

impl Reader {
    pub fn new(root: &Path) -> Reader {
        Reader {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn store(&self) -> Result<Store> {
        Store::open_read_only(&project::db_path(&self.root))
            .map_err(|e| ServiceError::from(EngineError::from(e)))
    }

    pub fn status(&self) -> Result<reads::Status> {
        let mut s = reads::status(&self.store()?)?;
        reads::with_driver(&mut s, &self.root);
        Ok(s)
    }

    /// Every run of the project, oldest first.
    pub fn runs(&self) -> Result<Vec<loom_kernel::Run>> {
        Ok(self.store()?.runs().map_err(EngineError::from)?)
    }

    pub fn gates(&self, all: bool) -> Result<Vec<Gate>> {
        Ok(reads::gates(&self.store()?, all)?)
    }

    pub fn log(&self, run: Option<u64>) -> Result<Vec<reads::LogEntry>> {
        Ok(reads::log(&self.store()?, run)?)
    }

    pub fn ledger(&self, run: u64) -> Result<Vec<LedgerRow>> {
        Ok(self.store()?.ledger(run).map_err(EngineError::from)?)
    }

    pub fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.store()?.blob(hash).map_err(EngineError::from)?)
    }

    /// The stored result of one ledger attempt (what `result_hash` names), wherever it lives.
    pub fn result(&self, run: u64, key: &str, attempt: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store()?
            .result(run, key, attempt)
            .map_err(EngineError::from)?)
    }

    pub fn verify(&self, run: Option<u64>) -> Result<Vec<reads::ChainReport>> {
        Ok(reads::verify(&self.store()?, run)?)
    }

    /// A page of `run`'s timeline ending before tick `before` (default: the newest), each
    /// tick with its ledger rows opened up, and the run's usage so far.
    pub fn tick_page(
        &self,
        run: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<crate::views::TickPage> {
        Ok(crate::views::tick_page(&self.store()?, run, before, limit)
            .map_err(EngineError::from)?)
    }

    /// One tick of `run` with its ledger rows opened up.
    pub fn tick_detail(&self, run: u64, seq: u64) -> Result<crate::views::TickDetail> {
        let page = self.tick_page(run, Some(seq.saturating_add(1)), 1)?;
        page.ticks
            .into_iter()
            .find(|t| t.tick.seq == seq)
            .ok_or_else(|| ServiceError {
                kind: loom_engine::ErrorKind::Usage,
                message: format!("run #{run} has no tick {seq}"),
            })
    }

    /// Every run, newest first, with its title, last activity and usage.
    pub fn run_summaries(&self) -> Result<Vec<crate::views::RunSummary>> {
        Ok(crate::views::run_summaries(&self.store()?).map_err(EngineError::from)?)
    }

    /// What the effects of `run` used so far.
    pub fn usage(&self, run: u64) -> Result<crate::views::Usage> {
        let ledger = self.store()?.ledger(run).map_err(EngineError::from)?;
        Ok(crate::views::Usage::of(&ledger))
    }

    pub(crate) fn current_open_run(&self) -> Result<Option<u64>> {
        let store = self.store()?;
        if store.open_task().map_err(EngineError::from)?.is_none() {
            return Ok(None);
        }
        Ok(reads::current_run(&store)?.map(|r| r.id))
    }
}
