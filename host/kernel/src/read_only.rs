//! Opening a database read-only, also where nothing can be written: a read-only mount, an
//! archived copy, files the user may not write.

use crate::error::{KernelError, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// A read-only connection to `path` and its schema version: opened normally, or, where SQLite
/// cannot open it that way because nothing can be written there, as an immutable file.
pub(crate) fn open(path: &Path) -> Result<(Connection, i64)> {
    match normally(path) {
        Ok(opened) => Ok(opened),
        Err(e) if cannot_open(&e) => immutable(path).map_err(|why| match why {
            Immutable::Unsafe(refusal) => refusal,
            // The fallback did not help either: the first error says what is wrong.
            Immutable::Failed => e,
        }),
        Err(e) => Err(e),
    }
}

/// A read-only connection and the schema version. Opening is lazy: the first read is where a
/// WAL-mode database needs its `-shm` index, and fails if it cannot create one.
fn normally(path: &Path) -> Result<(Connection, i64)> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((conn, version))
}

fn cannot_open(e: &KernelError) -> bool {
    use rusqlite::ErrorCode;
    match e {
        KernelError::Sql(e) => matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly)
        ),
        _ => false,
    }
}

enum Immutable {
    /// Opening immutable would show a stale database: the error says why and what to do.
    Unsafe(KernelError),
    Failed,
}

/// Opens `path` as an immutable file (`immutable=1`): no locks, no `-shm`, nothing written.
///
/// A WAL-mode database read normally needs its `-shm` file, which SQLite must create when the
/// last connection removed it; where the directory cannot be written, that fails with
/// "unable to open database file". Immutable mode is safe here because we come this way only
/// when SQLite could not open the file normally, i.e. could not create or write its index, so
/// nothing (no loom either) writes this database through this path; and only when there is no
/// write-ahead log: immutable mode ignores the log, so commits still in
/// it would be invisible, and that is refused instead. A writer reaching the same directory by
/// another, writable mount appends to a log first; a reader started during its first commit
/// could see it half done, which is why this is a fallback for read-only media and copies,
/// never the normal way in.
fn immutable(path: &Path) -> std::result::Result<(Connection, i64), Immutable> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(Immutable::Unsafe(KernelError::Unreadable {
            path: path.display().to_string(),
            why: format!(
                "its write-ahead log {} holds commits not yet in the database file, and the \
                 shared-memory index SQLite needs to read them cannot be created here (the \
                 directory cannot be written); open it once where it can be written, or copy \
                 {} and the log together to such a place",
                wal.display(),
                path.display()
            ),
        }));
    }
    let uri = match path.to_str() {
        Some(p) => format!("file:{}?mode=ro&immutable=1", uri_path(p)),
        None => return Err(Immutable::Failed),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags).map_err(|_| Immutable::Failed)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|_| Immutable::Failed)?;
    Ok((conn, version))
}

/// A file path as the path part of an SQLite URI: `?`, `#`, `%` and anything unusual
/// percent-encoded.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "read_only_tests.rs"]
mod tests;
