//! The project's database: opening it, reading committed state, and starting ticks.

use crate::error::{KernelError, Result};
use crate::model::*;
use crate::tick::Tick;
use crate::view::View;
use crate::{query, schema};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use std::rc::Rc;

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=FULL`: a committed tick survives power loss (the default).
    Full,
    /// `synchronous=NORMAL`: a committed tick survives the process being killed; the last few
    /// may be lost if the machine loses power.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// What a new run starts with.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub title: String,
    pub bundle_name: String,
    pub bundle_version: String,
    pub bundle_hash: String,
    pub phase: String,
    /// JSON object of bundle settings, frozen for the run's life.
    pub settings: String,
    /// The engine's options for this run (JSON object), kept so a resume in another process
    /// drives the run the same way.
    pub options: String,
}

/// An effect about to be performed: committed as an intent row before it runs.
#[derive(Clone, Debug)]
pub struct Intent<'a> {
    pub key: &'a str,
    pub step: &'a str,
    pub kind: &'a str,
    pub retry_safe: bool,
    pub request: Option<&'a [u8]>,
}

pub struct Store {
    pub(crate) conn: Rc<Connection>,
    durability: Durability,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, durability: Durability) -> Result<Store> {
        let conn = Connection::open(path)?;
        // WAL: readers (status, dashboards) never block the tick writer, and a commit is one
        // append + one fsync instead of two.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        Self::configure(conn, durability)
    }

    /// A private in-memory database (tests, replay scratch space).
    pub fn open_in_memory() -> Result<Store> {
        Self::configure(Connection::open_in_memory()?, Durability::Full)
    }

    /// Opens an existing database without any right to write to it (replay, verify, a copy
    /// from another machine). No migration is applied; a newer schema is refused.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > schema::MIGRATIONS.len() as i64 {
            return Err(KernelError::SchemaTooNew {
                found: version,
                supported: schema::MIGRATIONS.len() as i64,
            });
        }
        Ok(Store {
            conn: Rc::new(conn),
            durability: Durability::Full,
        })
    }

    fn configure(conn: Connection, durability: Durability) -> Result<Store> {
        // Set per connection, never in a migration: these are properties of how this process
        // uses the file, not of the data. busy_timeout lets a second loom process (a status
        // query during a run) wait for the writer instead of failing at once.
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
            durability.pragma()
        ))?;
        schema::migrate(&conn)?;
        Ok(Store {
            conn: Rc::new(conn),
            durability,
        })
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// A view of `run` over committed state (or, inside a tick, over the tick's writes).
    pub fn view(&self, run: u64) -> View {
        View::new(self.conn.clone(), run)
    }

    /// Mints the token of the next tick of `run`.
    pub fn next_token(&self, run: u64) -> Result<TickToken> {
        let r = query::run(&self.conn, run)?.ok_or(KernelError::NoSuchRun(run))?;
        Ok(TickToken::mint(run, r.last_seq + 1))
    }

    /// Opens the transaction of tick `token`.
    pub fn begin(&self, token: TickToken) -> Result<Tick<'_>> {
        let tick = Tick::begin(self, token)?;
        let last: Option<i64> = self
            .conn
            .prepare_cached("SELECT last_seq FROM runs WHERE id = ?1")?
            .query_row([token.run as i64], |r| r.get(0))
            .optional()?;
        match last {
            None => Err(KernelError::NoSuchRun(token.run)),
            Some(last) if last as u64 + 1 != token.seq => Err(KernelError::Conflict {
                run: token.run,
                seq: token.seq,
            }),
            Some(_) => Ok(tick),
        }
    }

    /// Creates a task and its first run and opens tick 1 of that run; committing the tick
    /// makes both exist. Refused while another task is open. `token` is for replay, which
    /// re-creates a recorded run under its recorded ids and time.
    pub fn begin_run(&self, new: &NewRun, token: Option<TickToken>) -> Result<Tick<'_>> {
        let run_id = match token {
            Some(t) => t.run,
            None => {
                let max: i64 =
                    self.conn
                        .query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))?;
                max as u64 + 1
            }
        };
        let token = token.unwrap_or_else(|| TickToken::mint(run_id, 1));
        let mut tick = Tick::begin(self, token)?;
        if let Some(open) = query::open_task(&self.conn)? {
            return Err(KernelError::TaskOpen {
                id: open.id,
                title: open.title,
            });
        }
        let task_id: i64 =
            self.conn
                .query_row("SELECT coalesce(max(id), 0) + 1 FROM tasks", [], |r| {
                    r.get(0)
                })?;
        self.conn
            .prepare_cached(
                "INSERT INTO tasks (id, title, status, created_ms) VALUES (?1, ?2, 'open', ?3)",
            )?
            .execute(params![task_id, new.title, token.unix_ms as i64])?;
        self.conn
            .prepare_cached(
                "INSERT INTO runs (id, task_id, bundle_name, bundle_version, bundle_hash, status, \
                 phase, settings, stop_reason, created_ms, last_seq, options) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, NULL, ?8, 0, ?9)",
            )?
            .execute(params![
                run_id as i64,
                task_id,
                new.bundle_name,
                new.bundle_version,
                new.bundle_hash,
                new.phase,
                new.settings,
                token.unix_ms as i64,
                new.options
            ])?;
        tick.log(Write::RunStart {
            task: task_id as u64,
            title: new.title.clone(),
            bundle: new.bundle_name.clone(),
            version: new.bundle_version.clone(),
            bundle_hash: new.bundle_hash.clone(),
            phase: new.phase.clone(),
            settings: new.settings.clone(),
        });
        Ok(tick)
    }

    /// Commits an intent row for an effect about to run, in its own transaction, and returns
    /// its attempt number (1 for the first try, 2 after an uncertain one, …).
    ///
    /// A retry-safe intent is committed without waiting for the disk (`synchronous=NORMAL`):
    /// it survives the process being killed, and if power loss drops it the effect is simply
    /// run again, which is what retry-safe allows. Any other intent is committed at full
    /// durability before the effect may start, so an uncertain effect is never forgotten.
    pub fn record_intent(&self, token: &TickToken, intent: &Intent<'_>) -> Result<u32> {
        let relax = intent.retry_safe && self.durability == Durability::Full;
        if relax {
            self.conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        }
        let result = self.write_intent(token, intent);
        if relax {
            self.conn.execute_batch("PRAGMA synchronous = FULL")?;
        }
        result
    }

    fn write_intent(&self, token: &TickToken, intent: &Intent<'_>) -> Result<u32> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let body = || -> Result<u32> {
            let attempt: i64 = self
                .conn
                .prepare_cached("SELECT coalesce(max(attempt), 0) + 1 FROM ledger WHERE key = ?1")?
                .query_row([intent.key], |r| r.get(0))?;
            let request_hash = intent
                .request
                .map(|r| query::put_blob(&self.conn, r))
                .transpose()?;
            self.conn
                .prepare_cached(
                    "INSERT INTO ledger (key, attempt, run_id, seq, step, kind, retry_safe, \
                     status, request_hash, intent_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,'intent',?8,?9)",
                )?
                .execute(params![
                    intent.key,
                    attempt,
                    token.run as i64,
                    token.seq as i64,
                    intent.step,
                    intent.kind,
                    intent.retry_safe,
                    request_hash,
                    token.unix_ms as i64
                ])?;
            Ok(attempt as u32)
        };
        match body() {
            Ok(a) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(a)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Records a failed attempt (e.g. a provider error before fallback) in its own
    /// transaction; the effect produced no state change.
    pub fn record_failed_attempt(
        &self,
        token: &TickToken,
        key: &str,
        attempt: u32,
        summary: &str,
        meta: &str,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE ledger SET status = 'failed', summary = ?3, meta = ?4, result_ms = ?5 \
                 WHERE key = ?1 AND attempt = ?2",
            )?
            .execute(params![key, attempt, summary, meta, token.unix_ms as i64])?;
        Ok(())
    }

    pub fn put_blob(&self, data: &[u8]) -> Result<String> {
        query::put_blob(&self.conn, data)
    }

    pub fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        query::blob(&self.conn, hash)
    }

    pub fn open_task(&self) -> Result<Option<Task>> {
        query::open_task(&self.conn)
    }

    pub fn task(&self, id: u64) -> Result<Option<Task>> {
        query::task(&self.conn, id)
    }

    pub fn run(&self, id: u64) -> Result<Run> {
        query::run(&self.conn, id)?.ok_or(KernelError::NoSuchRun(id))
    }

    pub fn runs(&self) -> Result<Vec<Run>> {
        query::runs(&self.conn)
    }

    pub fn runs_of_task(&self, task: u64) -> Result<Vec<Run>> {
        query::runs_of_task(&self.conn, task)
    }

    pub fn gates(&self, run: u64) -> Result<Vec<Gate>> {
        query::gates(&self.conn, run)
    }

    pub fn ledger(&self, run: u64) -> Result<Vec<LedgerRow>> {
        query::ledger(&self.conn, run)
    }

    /// Every attempt at the effect with idempotency key `key`, oldest first.
    pub fn attempts(&self, key: &str) -> Result<Vec<LedgerRow>> {
        query::attempts(&self.conn, key)
    }

    pub fn ticks(&self, run: u64) -> Result<Vec<TickRow>> {
        query::ticks(&self.conn, run)
    }

    pub fn violations(&self, run: u64) -> Result<Vec<ViolationRow>> {
        query::violations(&self.conn, run)
    }

    pub fn facts(&self, run: u64) -> Result<Vec<Fact>> {
        query::all_facts(&self.conn, run)
    }
}
