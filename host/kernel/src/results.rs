//! Where an effect's result bytes live: inline in its ledger row when small, in the
//! content-addressed `blobs` table when large.
//!
//! A result of megabytes inline would make its ledger row span overflow pages, and the same
//! payload recorded again (a refused result re-recorded, a retried attempt answering the same)
//! would be stored again. Either way the row's `result_hash` is the SHA-256 of the bytes, as it
//! always was, so the tick's change list and hash do not depend on where the bytes went, and a
//! database written before results could move (every result inline) reads the same.

use crate::error::{KernelError, Result};
use crate::query;
use rusqlite::{params, Connection, OptionalExtension};

/// Results up to this many bytes stay in their ledger row; larger ones are stored as a blob.
/// 4 KiB is one SQLite page: a typical short reply or command tail (and the benchmark's
/// 200-byte result) stays in the row and costs no second b-tree write, while a long reply or
/// change set goes to `blobs` once, however often it is recorded.
pub const RESULT_INLINE_BYTES_MAX: usize = 4 << 10;

/// Stores `data` (whose SHA-256 is `hash`) as a blob if it is too large to keep inline, and
/// returns what goes in the row's `result` column: the bytes themselves, or nothing.
pub(crate) fn place<'d>(
    conn: &Connection,
    data: Option<&'d [u8]>,
    hash: Option<&str>,
) -> Result<Option<&'d [u8]>> {
    match data {
        Some(bytes) if bytes.len() > RESULT_INLINE_BYTES_MAX => {
            let stored = query::put_blob(conn, bytes)?;
            // The row's hash is what finds the blob again: they must be the same digest.
            if hash != Some(stored.as_str()) {
                return Err(KernelError::Corrupt(format!(
                    "result blob {stored} does not match the result hash {hash:?}"
                )));
            }
            Ok(None)
        }
        inline => Ok(inline),
    }
}

/// The result recorded for attempt `attempt` at effect `key` of `run`, wherever it is kept.
pub(crate) fn read(
    conn: &Connection,
    run: u64,
    key: &str,
    attempt: u32,
) -> Result<Option<Vec<u8>>> {
    let row: Option<(Option<Vec<u8>>, Option<String>)> = conn
        .prepare_cached(
            "SELECT result, result_hash FROM ledger \
             WHERE run_id = ?1 AND key = ?2 AND attempt = ?3",
        )?
        .query_row(params![run as i64, key, attempt], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        None | Some((None, None)) => Ok(None),
        Some((Some(inline), _)) => Ok(Some(inline)),
        Some((None, Some(hash))) => match query::blob(conn, &hash)? {
            Some(bytes) => Ok(Some(bytes)),
            None => Err(KernelError::Corrupt(format!(
                "the result of effect {key} attempt {attempt} is stored as blob {hash}, \
                 which is missing"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256_hex;
    use crate::*;

    fn started() -> (Store, u64) {
        let store = Store::open_in_memory().unwrap();
        let new = NewRun {
            title: "results".into(),
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
        (store, run)
    }

    /// Records `data` as the result of a new effect `key` in a tick of its own.
    fn record(store: &Store, run: u64, key: &str, data: &[u8]) -> TickRow {
        let t = store.next_token(run).unwrap();
        let intent = Intent {
            key,
            step: "s",
            kind: "agent",
            retry_safe: true,
            request: None,
        };
        let attempt = store.record_intent(&t, &intent).unwrap();
        let mut tick = store.begin(t).unwrap();
        tick.record_result(key, attempt, Some(data), "ok", "{}")
            .unwrap();
        tick.commit(TickMeta::new(TickKind::Effect, "s").step("s"), None)
            .unwrap()
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_large_result_is_stored_once_as_a_blob_and_reads_back_the_same() {
        let (store, run) = started();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let first = record(&store, run, "k1", &big);
        record(&store, run, "k2", &big);
        for key in ["k1", "k2"] {
            assert_eq!(
                store.result(run, key, 1).unwrap().as_deref(),
                Some(&big[..])
            );
        }
        // Two rows, one copy of the bytes, and nothing of them inline.
        assert_eq!(
            count(&store, "SELECT count(*) FROM blobs WHERE size = 100000"),
            1
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM ledger WHERE result IS NOT NULL"
            ),
            0
        );
        // The change list names the result by the hash of its bytes, as for an inline one.
        let hash = sha256_hex(&big);
        assert!(first.changes.contains(&hash), "{}", first.changes);
        let rows = store.attempts(run, "k1").unwrap();
        assert_eq!(rows[0].result_hash.as_deref(), Some(hash.as_str()));
    }

    #[test]
    fn a_small_result_stays_in_its_row() {
        let (store, run) = started();
        let small = vec![b'x'; RESULT_INLINE_BYTES_MAX];
        let row = record(&store, run, "k1", &small);
        assert_eq!(store.result(run, "k1", 1).unwrap(), Some(small.clone()));
        assert_eq!(count(&store, "SELECT count(*) FROM blobs"), 0);
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM ledger WHERE result IS NOT NULL"
            ),
            1
        );
        let hash = sha256_hex(&small);
        assert!(
            row.changes.contains(&format!("\"result_hash\":\"{hash}\"")),
            "{}",
            row.changes
        );
    }

    /// Databases written before results could move keep every result inline, large or not.
    #[test]
    fn an_old_inline_large_result_still_reads() {
        let (store, run) = started();
        let big = vec![7u8; 50_000];
        record(&store, run, "k1", &big);
        store
            .conn
            .execute(
                "UPDATE ledger SET result = ?1 WHERE key = 'k1'",
                [big.as_slice()],
            )
            .unwrap();
        store.conn.execute("DELETE FROM blobs", []).unwrap();
        assert_eq!(store.result(run, "k1", 1).unwrap(), Some(big));
    }

    #[test]
    fn a_missing_blob_is_reported_as_damage() {
        let (store, run) = started();
        record(&store, run, "k1", &[1u8; 10_000]);
        store.conn.execute("DELETE FROM blobs", []).unwrap();
        let err = store.result(run, "k1", 1).unwrap_err();
        assert!(matches!(err, KernelError::Corrupt(_)), "{err}");
        assert!(err.to_string().contains("k1"), "{err}");
    }
}
