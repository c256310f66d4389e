//! The schema, as a constant list of migrations applied in order. A released migration is never
//! edited: an old `.loom/loom.db` must keep opening (and replaying) in a newer loom.
//!
//! Migration 1's note on the ledger holds for small results only: a result larger than
//! [`crate::RESULT_INLINE_BYTES_MAX`] is kept in `blobs` under its `result_hash`, with the
//! row's `result` left NULL (see `results.rs`). That needs no new column, so no migration.
//! Likewise a text longer than [`crate::TEXT_INLINE_BYTES_MAX`] (a fact's value, a gate's text,
//! a tick's summary or change list, a ledger row's summary or metadata, a violation's message
//! or rows, a decision's note) is kept in `blobs`, its column holding a reference (see
//! `texts.rs`). Migration 2 changes no table: it tells an older loom, which would read such a
//! reference as a type error, that this database is newer than it, and sets the file's
//! application id. Migration 3 adds indexes only.

use crate::error::KernelError;
use rusqlite::Connection;

/// Migration N (1-based) brings `PRAGMA user_version` from N-1 to N.
pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open','done','failed','abandoned')),
    created_ms  INTEGER NOT NULL
);
-- One in-flight task per project, held by the schema itself and not only by the code.
CREATE UNIQUE INDEX tasks_one_open ON tasks(status) WHERE status = 'open';

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks(id),
    bundle_name     TEXT NOT NULL,
    bundle_version  TEXT NOT NULL,
    bundle_hash     TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('running','waiting','stopped','done','failed','abandoned')),
    phase           TEXT NOT NULL,
    settings        TEXT NOT NULL,
    -- the engine's options for this run (e.g. provider override), opaque to the kernel
    options         TEXT NOT NULL DEFAULT '{}',
    stop_reason     TEXT,
    created_ms      INTEGER NOT NULL
);

-- A tick's key is run_id * 2^32 + seq, the table's own b-tree key: a run's ticks sit together
-- in order, and a new tick appends to the last page (a composite primary key would store
-- these kilobyte rows in an index b-tree and split pages far more often).
CREATE TABLE ticks (
    id          INTEGER PRIMARY KEY CHECK (id = run_id * 4294967296 + seq),
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    seq         INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 4294967295),
    unix_ms     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    step        TEXT,
    decider     TEXT,
    summary     TEXT NOT NULL,
    changes     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

-- Rows are appended in the order intents are recorded; an effect's result is kept in its own
-- row (results are rarely shared, so content addressing them would cost a second b-tree write
-- for nothing). Lookups by effect key go through the unique index.
CREATE TABLE ledger (
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    seq          INTEGER NOT NULL,
    step         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    retry_safe   INTEGER NOT NULL,
    status       TEXT NOT NULL
        CHECK (status IN ('intent','done','failed','refused','superseded')),
    request_hash TEXT,
    result_hash  TEXT,
    result       BLOB,
    summary      TEXT NOT NULL DEFAULT '',
    meta         TEXT NOT NULL DEFAULT '{}',
    intent_ms    INTEGER NOT NULL,
    result_ms    INTEGER
);
CREATE UNIQUE INDEX ledger_key ON ledger(run_id, key, attempt);

CREATE TABLE facts (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    tick    INTEGER NOT NULL,
    PRIMARY KEY (run_id, kind, key)
) WITHOUT ROWID;

CREATE TABLE gates (
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    id            INTEGER NOT NULL,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending','approved','rejected')),
    decider       TEXT NOT NULL CHECK (decider IN ('human','agent','rule')),
    risk          TEXT NOT NULL CHECK (risk IN ('low','medium','high')),
    summary       TEXT NOT NULL,
    shown_hash    TEXT NOT NULL,
    opened_tick   INTEGER NOT NULL,
    decided_tick  INTEGER,
    decided_by    TEXT,
    transport     TEXT,
    note          TEXT,
    PRIMARY KEY (run_id, id)
) WITHOUT ROWID;

CREATE TABLE violations (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES runs(id),
    seq      INTEGER NOT NULL,
    unix_ms  INTEGER NOT NULL,
    step     TEXT,
    rule     TEXT NOT NULL,
    message  TEXT NOT NULL,
    rows     TEXT NOT NULL
);

CREATE TABLE blobs (
    hash  TEXT PRIMARY KEY,
    size  INTEGER NOT NULL,
    data  BLOB NOT NULL
) WITHOUT ROWID;
"#,
    // 2: long texts may be references to blobs (see above); no table changes. The file is
    // marked as loom's, so a foreign SQLite file is told apart from an old loom one.
    "PRAGMA application_id = 1819242349;",
    // 3: indexes for the bounded reads a bundle makes through `view` (`latest-gate`,
    // `ledger-of`, `ledger-last` in loom:bundle@0.2.0), whose cost must not grow with the run.
    // `ledger_order` also serves the whole-ledger read, which sorted every row before.
    r#"
CREATE INDEX gates_name ON gates(run_id, name, id);
CREATE INDEX ledger_step ON ledger(run_id, step, seq, key, attempt);
CREATE INDEX ledger_order ON ledger(run_id, seq, key, attempt);
"#,
    // 4: indexes only, for reads whose cost must not grow with the run or the project: the
    // pending gates of a run (a run that has decided thousands of gates finds the open one in
    // one step), and a run's violations (without it, every run's were read to find one's).
    // No table changes, so everything an older loom wrote reads the same.
    r#"
CREATE INDEX gates_pending ON gates(run_id, name, id) WHERE status = 'pending';
CREATE INDEX violations_run ON violations(run_id, id);
"#,
    // 5: a blob may be stored compressed (a bundle's component: an interpreted language's is
    // ~19 MB, and zstd keeps a third of it). `codec` says how `data` is held; `size` and
    // `hash` stay those of the bytes as given, so a blob is still found by its content. Rows an
    // older loom wrote are `raw` and read the same.
    "ALTER TABLE blobs ADD COLUMN codec TEXT NOT NULL DEFAULT 'raw';",
];

/// `PRAGMA application_id` of a loom database: "loom" in ASCII, read as a big-endian number.
pub const APPLICATION_ID: i64 = 0x6c6f_6f6d;

/// Refuses a file that is not a loom database before anything is read from it or written to
/// it: another application's SQLite file (its own application id), or a file with tables but
/// no loom schema version (which migration 1 would otherwise fill with loom's tables). A new,
/// empty file and a database of an older loom (schema 1, before the id) pass.
pub fn check_identity(conn: &Connection) -> Result<(), KernelError> {
    // One statement, so one snapshot: read one by one, another process's migration 1 could
    // commit in between, and a fresh file would look like someone else's tables with no
    // schema version.
    let (app, version, tables): (i64, i64, Option<String>) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id), \
                (SELECT user_version FROM pragma_user_version), \
                (SELECT group_concat(name, ', ') FROM \
                   (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name))",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if app != 0 && app != APPLICATION_ID {
        return Err(KernelError::NotLoom {
            why: format!("it belongs to another application (its SQLite application id is {app})"),
        });
    }
    let tables: Vec<&str> = tables
        .as_deref()
        .map_or(Vec::new(), |t| t.split(", ").collect());
    if version == 0 && !tables.is_empty() {
        return Err(KernelError::NotLoom {
            why: format!(
                "it holds tables loom did not make ({}) and no loom schema version",
                tables.join(", ")
            ),
        });
    }
    if version > 0 && !tables.contains(&"ticks") {
        return Err(KernelError::NotLoom {
            why: format!("it has schema version {version} but no table of loom's"),
        });
    }
    Ok(())
}

/// Brings the database up to the newest schema, each migration in its own transaction.
///
/// The version is read again inside each write transaction: two processes opening a fresh
/// project at once must not both apply migration 1 ("table tasks already exists").
pub fn migrate(conn: &Connection) -> Result<(), KernelError> {
    check_identity(conn)?;
    let newest = MIGRATIONS.len() as i64;
    let version = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
    let current = version(conn)?;
    if current > newest {
        return Err(KernelError::SchemaTooNew {
            found: current,
            supported: newest,
        });
    }
    if current == newest {
        return Ok(());
    }
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let step = (|| -> Result<bool, KernelError> {
            let current = version(conn)?;
            if current >= newest {
                return Ok(false);
            }
            conn.execute_batch(MIGRATIONS[current as usize])?;
            conn.execute_batch(&format!("PRAGMA user_version = {}", current + 1))?;
            Ok(true)
        })();
        match step {
            Ok(more) => {
                conn.execute_batch("COMMIT")?;
                if !more {
                    return Ok(());
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_in_order_and_are_idempotent() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        // A second open applies nothing and fails nothing.
        migrate(&conn).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let fk: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk, 0);
    }

    #[test]
    fn every_migration_is_valid_sql_on_its_own() {
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let conn = Connection::open_in_memory().unwrap();
            for earlier in &MIGRATIONS[..i] {
                conn.execute_batch(earlier).unwrap();
            }
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("migration {} fails: {e}", i + 1));
        }
    }

    #[test]
    fn two_connections_migrating_a_fresh_file_at_once_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let conn = Connection::open(&path).unwrap();
                    conn.busy_timeout(std::time::Duration::from_secs(5))
                        .unwrap();
                    migrate(&conn)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }

    /// A released migration is never edited: an old database was made by exactly that SQL.
    /// Adding a migration adds its hash here; changing one fails.
    #[test]
    fn released_migrations_are_pinned_by_hash() {
        const PINNED: &[&str] = &[
            "9089cf8793b3744813d1e6e1a33506be43562e2c7ab09fe5c3fc5ee42c6b25e3",
            "770a06fcf5920bf1c89de335d730d1545c9e8c896293ef73cb5820dec9d49267",
            "7fc77e387a3482a2e2ab0ad0b7e01d556db8f63fbb1afcaeaa8a3b57bcc87f14",
            "dd79b092fbca49dcd9ae5018321bd8969f9f55471d5aa3eb8104883cb171b0c4",
            "c4be5c88a8a7ed550d06a351102bc78ffa0d28eb196b7c8ea0d1ca0db2c214ed",
        ];
        let hashes: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| crate::hash::sha256_hex(m.as_bytes()))
            .collect();
        assert_eq!(
            hashes, PINNED,
            "a released migration was edited, or a new one is not pinned"
        );
    }

    #[test]
    fn a_new_database_is_marked_as_loom_s() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(app, APPLICATION_ID);
    }

    #[test]
    fn another_application_s_file_is_refused_and_left_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA application_id = 42; CREATE TABLE notes (t TEXT);")
            .unwrap();
        let err = migrate(&conn).unwrap_err();
        assert!(matches!(err, KernelError::NotLoom { .. }), "{err}");
        assert!(err.to_string().contains("application id is 42"), "{err}");
        // A foreign file without an id, but with tables of its own, is refused too.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (t TEXT);").unwrap();
        let err = migrate(&conn).unwrap_err();
        assert!(err.to_string().contains("notes"), "{err}");
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1, "nothing of loom's was added");
    }

    /// A database of schema 1 (before the application id) is an old loom one: it migrates.
    #[test]
    fn a_schema_1_database_migrates_and_gets_the_id() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        migrate(&conn).unwrap();
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(app, APPLICATION_ID);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
        let err = migrate(&conn).unwrap_err();
        assert!(err.to_string().contains("999"), "{err}");
    }
}
