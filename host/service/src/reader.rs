//! Reading a project for a transport, on read-only connections of its own: a read never
//! queues behind the engine thread's work.

use crate::{Result, ServiceError};
use loom_engine::{project, reads, EngineError};
use loom_kernel::{Gate, LedgerRow, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Reads a project on read-only connections of its own (one per call: cheap, and `Send`).
#[derive(Clone, Debug)]
pub struct Reader {
    pub(crate) root: PathBuf,
    /// The gates each bundle (by hash) marks editable: a bundle is loaded once to learn it.
    editable: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl Reader {
    pub fn new(root: &Path) -> Reader {
        Reader {
            root: root.to_path_buf(),
            editable: Arc::default(),
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
        let mut s = self.with_store(|store| Ok(reads::status(store)?))?;
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

    /// The names of the gates run `run`'s bundle marks editable (approvable with edits).
    pub fn editable_gates(&self, run: u64) -> Result<Vec<String>> {
        let store = self.store()?;
        let hash = store.run(run).map_err(EngineError::from)?.bundle_hash;
        if let Some(names) = self
            .editable
            .lock()
            .ok()
            .and_then(|m| m.get(&hash).cloned())
        {
            return Ok(names);
        }
        let names = reads::editable_gates(&self.root, &store, run)?;
        if let Ok(mut m) = self.editable.lock() {
            m.insert(hash, names.clone());
        }
        Ok(names)
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

    /// Where `run` sits among forks (its parent, its children).
    pub fn family(&self, run: u64) -> Result<reads::Family> {
        Ok(reads::family(&self.store()?, run)?)
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

/// Reads behind the HTTP API's run pages.
impl Reader {
    pub fn task(&self, id: u64) -> Result<Option<loom_kernel::Task>> {
        Ok(self.store()?.task(id).map_err(EngineError::from)?)
    }

    pub fn run(&self, id: u64) -> Result<loom_kernel::Run> {
        Ok(self.store()?.run(id).map_err(EngineError::from)?)
    }

    /// Every gate of `run`, decided or not.
    pub fn run_gates(&self, run: u64) -> Result<Vec<Gate>> {
        Ok(self.store()?.gates(run).map_err(EngineError::from)?)
    }

    pub fn facts(&self, run: u64) -> Result<Vec<loom_kernel::Fact>> {
        Ok(self.store()?.facts(run).map_err(EngineError::from)?)
    }

    pub fn violations(&self, run: u64) -> Result<Vec<loom_kernel::ViolationRow>> {
        Ok(self.store()?.violations(run).map_err(EngineError::from)?)
    }

    /// Every attempt at the effect `key` of `run`.
    pub fn attempts(&self, run: u64, key: &str) -> Result<Vec<LedgerRow>> {
        Ok(self
            .store()?
            .attempts(run, key)
            .map_err(EngineError::from)?)
    }

    /// At most `limit` ticks of `run` after seq `since`, with their ledger rows.
    pub fn log_page(&self, run: u64, since: u64, limit: u32) -> Result<Vec<reads::LogEntry>> {
        Ok(reads::log_page(&self.store()?, run, since, limit)?)
    }

    /// Replays recorded runs from the project's database, as `loom replay` does, with an
    /// `invariants` component to evaluate at every tick if given (`only`: without
    /// re-executing the runs). CPU-bound: call it off the async threads.
    pub fn replay(
        &self,
        runs: loom_engine::replay::Runs,
        invariants: Option<Vec<u8>>,
        only: bool,
        ticks: bool,
    ) -> Result<Vec<loom_engine::replay::RunReplay>> {
        let opts = loom_engine::replay::ReplayOptions {
            invariants,
            only,
            bundle: None,
            ticks,
            jobs: None,
            config: Some(loom_engine::Config::load(&self.root)?),
            root: Some(self.root.clone()),
        };
        Ok(loom_engine::replay::replay(
            &project::db_path(&self.root),
            runs,
            &opts,
        )?)
    }
}

thread_local! {
    /// One read-only connection per thread, kept between reads of the same database: opening
    /// one (and SQLite parsing the schema at its first query) costs more than a status read.
    /// The database file's inode is kept with it, so a file replaced under it (a test, a
    /// restore) is opened anew. Every `Reader` belongs to a process that drives the project,
    /// so the directory is writable and the connection is a normal one that sees each new
    /// commit (never the immutable fallback of a read-only mount).
    static CACHED: std::cell::RefCell<Option<(PathBuf, u64, Store)>> =
        const { std::cell::RefCell::new(None) };
}

impl Reader {
    /// Runs `f` on this thread's cached connection to the project's database.
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        use std::os::unix::fs::MetadataExt;
        let path = project::db_path(&self.root);
        let ino = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
        CACHED.with(|cell| {
            let mut cached = cell.borrow_mut();
            let fresh = !matches!(&*cached, Some((p, i, _)) if *p == path && *i == ino);
            if fresh {
                *cached = None;
                *cached = Some((path, ino, self.store()?));
            }
            let Some((_, _, store)) = cached.as_ref() else {
                return self.store().and_then(|s| f(&s));
            };
            let r = f(store);
            if r.is_err() {
                // A connection that failed is not trusted again.
                *cached = None;
            }
            r
        })
    }
}
