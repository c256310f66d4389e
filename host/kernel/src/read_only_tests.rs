//! Opening read-only where nothing can be written. As root, permission bits do not stop
//! SQLite, so "cannot create the `-shm` file" is made real with a dangling link in its place:
//! SQLite's create and its read-only open of the file both fail, as on a read-only mount (the
//! e2e suite also runs `loom replay --db` on a real read-only bind mount when it may mount).

use crate::*;
use std::path::{Path, PathBuf};

fn recorded(dir: &Path, ticks_n: usize) -> (PathBuf, Store, u64) {
    let path = dir.join("loom.db");
    let store = Store::open(&path, Durability::Normal).unwrap();
    let new = NewRun {
        title: "task".into(),
        bundle_name: "t".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "h".into(),
        phase: "one".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    for i in 0..ticks_n {
        let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
        tick.put_fact("n", "i", &i.to_string()).unwrap();
        tick.commit(TickMeta::new(TickKind::Effect, format!("tick {i}")), None)
            .unwrap();
    }
    (path, store, run)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The `-shm` file can be neither created nor opened, as in a directory nobody may write.
#[cfg(unix)]
fn block_shm(path: &Path) {
    std::os::unix::fs::symlink("/nonexistent-loom-test/dir/shm", sibling(path, "-shm")).unwrap();
}

#[cfg(unix)]
#[test]
fn a_database_in_a_place_nothing_can_be_written_opens_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, run) = recorded(dir.path(), 3);
    drop(store);
    // The last connection folded the log into the file and removed it and the index.
    assert!(!sibling(&path, "-wal").exists() && !sibling(&path, "-shm").exists());
    block_shm(&path);
    // What plain SQLite does there (and what `open_read_only` did before the fallback).
    let plain =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
    assert_eq!(
        plain.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen),
        "{plain}"
    );

    let store = Store::open_read_only(&path).unwrap();
    let ticks = store.ticks(run).unwrap();
    assert_eq!(ticks.len(), 4);
    verify_chain(&ticks).unwrap();
    assert!(store.put_blob(b"x").is_err(), "nothing can be written");
}

/// Immutable mode would ignore a write-ahead log, so commits still in one would be silently
/// missing: that is refused with what to do, never read stale.
#[cfg(unix)]
#[test]
fn a_log_that_cannot_be_read_without_its_index_is_refused_not_read_stale() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, _) = recorded(dir.path(), 3);
    // A copy taken while loom was running: the file and its log, no index.
    let copy_dir = dir.path().join("copy");
    std::fs::create_dir(&copy_dir).unwrap();
    let copy = copy_dir.join("loom.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(sibling(&path, "-wal"), sibling(&copy, "-wal")).unwrap();
    drop(store);
    block_shm(&copy);
    let err = Store::open_read_only(&copy).err().unwrap();
    assert!(matches!(err, KernelError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("write-ahead log"), "{err}");
}

#[test]
fn odd_characters_in_the_path_survive_the_uri() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("a dir?with#odd%chars");
    std::fs::create_dir(&odd).unwrap();
    let (path, store, run) = recorded(&odd, 1);
    drop(store);
    let (conn, version) = super::immutable(&path).ok().unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM ticks WHERE run_id = ?1",
            [run as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2);
}

/// A database of an older loom (schema 1: the same tables, no application id) reads
/// read-only with nothing migrated, and the file is left as it was.
#[test]
fn an_older_schema_reads_read_only_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, run) = recorded(dir.path(), 2);
    store
        .conn
        .execute_batch("PRAGMA user_version = 1; PRAGMA application_id = 0;")
        .unwrap();
    drop(store);
    let old = Store::open_read_only(&path).unwrap();
    let ticks = old.ticks(run).unwrap();
    assert_eq!(ticks.len(), 3);
    assert!(verify_chain(&ticks).is_ok());
    drop(old);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (version, app): (i64, i64) = conn
        .query_row(
            "SELECT * FROM pragma_user_version, pragma_application_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, app), (1, 0));
}

#[test]
fn a_foreign_sqlite_file_is_refused_read_only_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE photos (id INTEGER);")
        .unwrap();
    let err = Store::open_read_only(&path).err().unwrap();
    assert!(matches!(err, KernelError::NotLoom { .. }), "{err}");
    let err = Store::open(&path, Durability::Full).err().unwrap();
    assert!(err.to_string().contains("not a loom database"), "{err}");
}
