//! The project's database: opening it, reading committed state, and starting ticks.

use crate::error::{KernelError, Result};
use crate::model::*;
use crate::tick::Tick;
use crate::view::View;
use crate::{query, read_only, schema, texts};
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection};
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

/// Statement handling for a connection that runs the same few dozen statements every tick.
fn tune(conn: &Connection) -> Result<()> {
    // A tick, the rules' reads and the engine's queries use a few dozen distinct statements;
    // rusqlite's default cache of 16 would evict and re-parse some of them on every tick.
    conn.set_prepared_statement_cache_capacity(128);
    // Without the planner-stability guarantee SQLite re-parses a statement whenever a new
    // value is bound to a parameter that sits under an ORDER BY or max() over an index (most
    // of our reads): measured as a quarter of a tick's CPU. Our plans do not depend on values.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT_MS: u64 = 5000;
/// The pause between tries to switch a new file to WAL while another process holds it.
const WAL_RETRY_MS: u64 = 10;

pub struct Store {
    pub(crate) conn: Rc<Connection>,
    durability: Durability,
    /// Whether the database has the indexes of schema 4 (an older one opened read-only does
    /// not): reads that must go through them name them, which SQLite refuses without them.
    pub(crate) indexed: bool,
}

/// Whether `conn`'s schema has the index of pending gates (schema 4 on).
fn has_indexes(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'gates_pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, durability: Durability) -> Result<Store> {
        let conn = Connection::open(path)?;
        // Before anything else: a second process opening the file while the first creates it
        // must wait for it, not fail with "database is locked".
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        // WAL: readers (status, dashboards) never block the tick writer, and a commit is one
        // append + one fsync instead of two.
        // Switching a new file to WAL takes an exclusive lock that SQLite does not wait for
        // through the busy handler: two processes creating a project at once retry here
        // instead of failing with "database is locked".
        // Counted tries rather than a clock: the kernel reads no clock but the tick token's.
        let mut tries = BUSY_TIMEOUT_MS / WAL_RETRY_MS;
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries > 0 =>
                {
                    tries -= 1;
                    std::thread::sleep(std::time::Duration::from_millis(WAL_RETRY_MS));
                }
                other => break other?,
            }
        }
        Self::configure(conn, durability)
    }

    /// A private in-memory database (tests, replay scratch space).
    pub fn open_in_memory() -> Result<Store> {
        Self::configure(Connection::open_in_memory()?, Durability::Full)
    }

    /// Empties an in-memory store (see [`Store::open_in_memory`]) so that it can stand in for
    /// a new one: every row goes, the schema and the prepared statements stay. A store on a
    /// file is refused: this is for scratch databases only.
    pub fn clear_scratch(&self) -> Result<()> {
        if let Some(path) = self.conn.path().filter(|p| !p.is_empty()) {
            return Err(KernelError::NotScratch(path.to_owned()));
        }
        // Every table the migrations made, whichever they are; row ids restart from 1 as in a
        // new database, since no table is AUTOINCREMENT.
        let tables = self
            .conn
            .prepare_cached(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // Deferred: the rows go table by table, and each table is checked once all are gone.
        let mut batch = String::from("BEGIN; PRAGMA defer_foreign_keys = ON;");
        for t in tables {
            batch.push_str(&format!(" DELETE FROM \"{}\";", t.replace('"', "\"\"")));
        }
        batch.push_str(" COMMIT;");
        self.conn.execute_batch(&batch)?;
        Ok(())
    }

    /// Opens an existing database without any right to write to it (replay, verify, a copy
    /// from another machine). No migration is applied; a newer schema is refused.
    ///
    /// This works where nothing can be written either (a read-only mount, files the user may
    /// not write), by opening it as an immutable file when that is safe.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let (conn, version) = read_only::open(path)?;
        schema::check_identity(&conn)?;
        if version > schema::MIGRATIONS.len() as i64 {
            return Err(KernelError::SchemaTooNew {
                found: version,
                supported: schema::MIGRATIONS.len() as i64,
            });
        }
        tune(&conn)?;
        Ok(Store {
            indexed: has_indexes(&conn)?,
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
        tune(&conn)?;
        Ok(Store {
            indexed: has_indexes(&conn)?,
            conn: Rc::new(conn),
            durability,
        })
    }

    /// Whether a transaction (a tick, an intent) is open on this store's connection.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
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
        match self.last_tick(run)? {
            Some((seq, _)) => Ok(TickToken::mint(run, seq + 1)),
            None => Err(KernelError::NoSuchRun(run)),
        }
    }

    /// Opens the transaction of tick `token`, which must directly follow the run's last
    /// committed tick (another writer got there first otherwise).
    pub fn begin(&self, token: TickToken) -> Result<Tick<'_>> {
        let mut tick = Tick::begin(self, token)?;
        match self.last_tick(token.run)? {
            None => Err(KernelError::NoSuchRun(token.run)),
            Some((last, _)) if last + 1 != token.seq => Err(KernelError::Conflict {
                run: token.run,
                seq: token.seq,
            }),
            Some((_, hash)) => {
                tick.chain_to(hash);
                Ok(tick)
            }
        }
    }

    /// The seq and hash of the last committed tick of `run`.
    fn last_tick(&self, run: u64) -> Result<Option<(u64, String)>> {
        query::last_hash(&self.conn, run)
    }

    /// Creates a task and its first run and opens tick 1 of that run; committing the tick
    /// makes both exist. Refused while another task is open. `token` is for replay, which
    /// re-creates a recorded run under its recorded ids and time.
    pub fn begin_run(&self, new: &NewRun, token: Option<TickToken>) -> Result<Tick<'_>> {
        self.begin_run_as(new, token, None)
    }

    /// `begin_run` under a recorded task id and token (replay).
    pub fn begin_run_as(
        &self,
        new: &NewRun,
        token: Option<TickToken>,
        task: Option<u64>,
    ) -> Result<Tick<'_>> {
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
        let task_id: i64 = match task {
            Some(t) => t as i64,
            None => self
                .conn
                .query_row("SELECT coalesce(max(id), 0) + 1 FROM tasks", [], |r| {
                    r.get(0)
                })?,
        };
        self.conn
            .prepare_cached(
                "INSERT INTO tasks (id, title, status, created_ms) VALUES (?1, ?2, 'open', ?3)",
            )?
            .execute(params![task_id, new.title, token.unix_ms as i64])?;
        self.conn
            .prepare_cached(
                "INSERT INTO runs (id, task_id, bundle_name, bundle_version, bundle_hash, status, \
                 phase, settings, stop_reason, created_ms, options) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, NULL, ?8, ?9)",
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
            query::exec(&self.conn, "PRAGMA synchronous = NORMAL")?;
        }
        let result = self.write_intent(token, intent);
        if relax {
            query::exec(&self.conn, "PRAGMA synchronous = FULL")?;
        }
        result
    }

    fn write_intent(&self, token: &TickToken, intent: &Intent<'_>) -> Result<u32> {
        let Some(request) = intent.request else {
            // One statement is its own transaction: no BEGIN/COMMIT round.
            return self.insert_intent(token, intent, None);
        };
        query::exec(&self.conn, "BEGIN IMMEDIATE")?;
        let body = || -> Result<u32> {
            let hash = query::put_blob(&self.conn, request)?;
            self.insert_intent(token, intent, Some(&hash))
        };
        match body() {
            Ok(a) => {
                query::exec(&self.conn, "COMMIT")?;
                Ok(a)
            }
            Err(e) => {
                let _ = query::exec(&self.conn, "ROLLBACK");
                Err(e)
            }
        }
    }

    /// Appends the intent row as the next attempt at its key; returns the attempt number.
    fn insert_intent(
        &self,
        token: &TickToken,
        intent: &Intent<'_>,
        request_hash: Option<&str>,
    ) -> Result<u32> {
        let attempt: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO ledger (key, attempt, run_id, seq, step, kind, retry_safe, status, \
                 request_hash, intent_ms) \
                 SELECT ?1, coalesce(max(attempt), 0) + 1, ?2, ?3, ?4, ?5, ?6, 'intent', ?7, ?8 \
                 FROM ledger WHERE run_id = ?2 AND key = ?1 RETURNING attempt",
            )?
            .query_row(
                params![
                    intent.key,
                    token.run as i64,
                    token.seq as i64,
                    intent.step,
                    intent.kind,
                    intent.retry_safe,
                    request_hash,
                    token.unix_ms as i64
                ],
                |r| r.get(0),
            )?;
        Ok(attempt as u32)
    }

    /// Puts back an intent row exactly as recorded (attempt, seq and time included), for a
    /// replay that re-executes a run; nothing if that attempt is already there. Its request,
    /// if any, must be stored as a blob first.
    pub fn restore_intent(&self, row: &LedgerRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ledger (key, attempt, run_id, seq, step, kind, retry_safe, \
                 status, request_hash, intent_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,'intent',?8,?9)",
            )?
            .execute(params![
                row.key,
                row.attempt,
                row.run_id as i64,
                row.seq as i64,
                row.step,
                row.kind,
                row.retry_safe,
                row.request_hash,
                row.intent_ms as i64
            ])?;
        Ok(())
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
        let (summary, meta) = (
            texts::place(&self.conn, summary)?,
            texts::place(&self.conn, meta)?,
        );
        self.conn
            .prepare_cached(
                "UPDATE ledger SET status = 'failed', summary = ?3, meta = ?4, result_ms = ?5 \
                 WHERE run_id = ?6 AND key = ?1 AND attempt = ?2",
            )?
            .execute(params![
                key,
                attempt,
                summary,
                meta,
                token.unix_ms as i64,
                token.run as i64
            ])?;
        Ok(())
    }

    pub fn put_blob(&self, data: &[u8]) -> Result<String> {
        query::put_blob(&self.conn, data)
    }

    /// Stores large binary bytes (a bundle's component) compressed; read back with [`blob`].
    ///
    /// [`blob`]: Store::blob
    pub fn put_blob_compressed(&self, data: &[u8]) -> Result<String> {
        query::put_blob_compressed(&self.conn, data)
    }

    /// The bytes stored under `hash` (decompressed if stored compressed).
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

    /// The newest run (of `task`, if given), read without reading the others.
    pub fn last_run(&self, task: Option<u64>) -> Result<Option<Run>> {
        query::last_run(&self.conn, task)
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

    /// The ledger rows of `run`'s ticks with `from < seq <= to`, in ledger order (through the
    /// `ledger_order` index, so a page costs the same however long the run).
    pub fn ledger_between(&self, run: u64, from: u64, to: u64) -> Result<Vec<LedgerRow>> {
        query::ledger_between(&self.conn, run, from, to)
    }

    /// Gate `id` of `run`, if there is one (decided or not).
    pub fn gate(&self, run: u64, id: u64) -> Result<Option<Gate>> {
        query::gate(&self.conn, run, id)
    }

    /// The pending gate of `run` named `name`, if one is open. Read through an index of the
    /// pending gates only, so it costs the same however many gates the run has decided.
    pub fn pending_gate(&self, run: u64, name: &str) -> Result<Option<Gate>> {
        query::pending_gate(&self.conn, run, name, self.indexed)
    }

    /// The pending gates of `run`, oldest first (through the same index).
    pub fn pending_gates(&self, run: u64) -> Result<Vec<Gate>> {
        query::pending_gates(&self.conn, run, self.indexed)
    }

    /// The ledger rows of `run` stored after the row with table id `after` (0: from the
    /// start), in the order they were stored, each with its table id. Reading on from the last
    /// id seen costs what was stored since, not what the run holds. Inside an open tick it
    /// sees the tick's own writes.
    pub fn ledger_after(&self, run: u64, after: i64) -> Result<Vec<(i64, LedgerRow)>> {
        query::ledger_after(&self.conn, run, after)
    }

    /// Ledger row `id` (a table id from [`Store::ledger_after`]) as it is now, if it is
    /// `run`'s.
    pub fn ledger_row(&self, run: u64, id: i64) -> Result<Option<LedgerRow>> {
        query::ledger_by_id(&self.conn, run, id)
    }

    /// Every attempt at the effect of `run` with idempotency key `key`, oldest first.
    pub fn attempts(&self, run: u64, key: &str) -> Result<Vec<LedgerRow>> {
        query::attempts(&self.conn, run, key)
    }

    /// The result bytes recorded for one attempt at an effect, if it has one (whether they are
    /// kept in its ledger row or, when large, as a blob).
    pub fn result(&self, run: u64, key: &str, attempt: u32) -> Result<Option<Vec<u8>>> {
        crate::results::read(&self.conn, run, key, attempt)
    }

    pub fn ticks(&self, run: u64) -> Result<Vec<TickRow>> {
        query::ticks(&self.conn, run)
    }

    /// Tick 1 of every run (where a fork names its parent).
    pub fn first_ticks(&self) -> Result<Vec<TickRow>> {
        query::first_ticks(&self.conn)
    }

    /// The id the next new run gets.
    pub fn next_run_id(&self) -> Result<u64> {
        let max: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))?;
        Ok(max as u64 + 1)
    }

    /// Ticks of any run committed after tick id `after` (`run·2³² + seq`; 0 for all), oldest
    /// first, at most `limit`: how a watcher catches up on what other processes committed.
    pub fn ticks_after(&self, after: i64, limit: u32) -> Result<Vec<TickRow>> {
        query::ticks_after(&self.conn, after, limit)
    }

    /// A number that changes whenever another connection commits to the database (SQLite's
    /// `PRAGMA data_version`): a cheap test for "did anything change?".
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    pub fn violations(&self, run: u64) -> Result<Vec<ViolationRow>> {
        query::violations(&self.conn, run)
    }

    pub fn facts(&self, run: u64) -> Result<Vec<Fact>> {
        query::all_facts(&self.conn, run)
    }
}
