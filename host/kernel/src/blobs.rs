//! The content-addressed `blobs` table: a blob is found by the SHA-256 of its bytes and
//! stored once, however often it is recorded. Large binary blobs (a bundle's component) may be
//! held compressed; reading one gives back exactly the bytes that were stored.
//!
//! Long texts are also blobs, but always `raw`: `texts.rs` reads them inside SQL.

use crate::error::{KernelError, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// zstd's default level: ~0.2 s for a 19 MB component, a third of its size, and reading
/// it back costs tens of milliseconds, next to the seconds of the compile it feeds.
const LEVEL: i32 = 3;

/// The bytes stored under `hash`, decompressed if they were stored compressed.
pub(crate) fn blob(conn: &Connection, hash: &str) -> Result<Option<Vec<u8>>> {
    // `*` and names, not a column list: a database before schema 5, opened read-only and so
    // not migrated, has no `codec` column, and all of its blobs are raw.
    let mut stmt = conn.prepare_cached("SELECT * FROM blobs WHERE hash = ?1")?;
    let codec_col = stmt.column_index("codec").ok();
    let row: Option<(Vec<u8>, String, i64)> = stmt
        .query_row([hash], |r| {
            let codec = match codec_col {
                Some(i) => r.get(i)?,
                None => "raw".to_owned(),
            };
            Ok((r.get("data")?, codec, r.get("size")?))
        })
        .optional()?;
    let Some((data, codec, size)) = row else {
        return Ok(None);
    };
    match codec.as_str() {
        "raw" => Ok(Some(data)),
        "zstd" => {
            let size = usize::try_from(size).map_err(|_| damaged(hash, "its size is negative"))?;
            let out = zstd::bulk::decompress(&data, size)
                .map_err(|e| damaged(hash, &format!("it does not decompress ({e})")))?;
            if out.len() != size || crate::hash::sha256_hex(&out) != hash {
                return Err(damaged(hash, "its bytes no longer match its hash"));
            }
            Ok(Some(out))
        }
        other => Err(damaged(hash, &format!("its codec `{other}` is unknown"))),
    }
}

/// Stores `data` under its SHA-256, as it is; storing the same bytes twice is a no-op.
pub(crate) fn put_blob(conn: &Connection, data: &[u8]) -> Result<String> {
    let hash = crate::hash::sha256_hex(data);
    conn.prepare_cached("INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?1, ?2, ?3)")?
        .execute(params![hash, data.len() as i64, data])?;
    Ok(hash)
}

/// Stores `data` under its SHA-256, compressed unless that saves nothing. Bytes already
/// stored (either way) are not compressed again.
pub(crate) fn put_blob_compressed(conn: &Connection, data: &[u8]) -> Result<String> {
    let hash = crate::hash::sha256_hex(data);
    let stored: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")?
        .query_row([&hash], |r| r.get(0))
        .optional()?;
    if stored.is_some() {
        return Ok(hash);
    }
    let packed = zstd::bulk::compress(data, LEVEL)
        .map_err(|e| KernelError::Corrupt(format!("cannot compress a blob: {e}")))?;
    let (codec, bytes) = if packed.len() < data.len() {
        ("zstd", packed.as_slice())
    } else {
        ("raw", data)
    };
    conn.prepare_cached(
        "INSERT OR IGNORE INTO blobs (hash, size, data, codec) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash, data.len() as i64, bytes, codec])?;
    Ok(hash)
}

fn damaged(hash: &str, why: &str) -> KernelError {
    KernelError::Corrupt(format!(
        "blob {hash} cannot be read: {why}; restore .loom/loom.db from a backup"
    ))
}

#[cfg(test)]
mod tests {
    use crate::Store;

    fn stored(store: &Store, hash: &str) -> (String, i64, i64) {
        store
            .conn
            .query_row(
                "SELECT codec, size, length(data) FROM blobs WHERE hash = ?1",
                [hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    }

    #[test]
    fn a_compressed_blob_reads_back_as_stored_once_and_smaller() {
        let store = Store::open_in_memory().unwrap();
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let hash = store.put_blob_compressed(&data).unwrap();
        assert_eq!(hash, crate::hash::sha256_hex(&data));
        assert_eq!(store.put_blob_compressed(&data).unwrap(), hash);
        let (codec, size, len) = stored(&store, &hash);
        assert_eq!((codec.as_str(), size), ("zstd", data.len() as i64));
        assert!(len * 4 < size, "{len} of {size}");
        assert_eq!(store.blob(&hash).unwrap(), Some(data));
        let rows: i64 = store
            .conn
            .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn bytes_that_do_not_shrink_are_kept_raw_and_a_raw_copy_is_not_recompressed() {
        let store = Store::open_in_memory().unwrap();
        let tiny = b"ab".to_vec();
        let hash = store.put_blob_compressed(&tiny).unwrap();
        assert_eq!(stored(&store, &hash).0, "raw");
        let big = vec![7u8; 100_000];
        let raw = store.put_blob(&big).unwrap();
        assert_eq!(store.put_blob_compressed(&big).unwrap(), raw);
        assert_eq!(stored(&store, &raw).0, "raw");
        assert_eq!(store.blob(&raw).unwrap(), Some(big));
    }

    #[test]
    fn a_damaged_compressed_blob_is_an_error_naming_it_not_other_bytes() {
        let store = Store::open_in_memory().unwrap();
        let data = vec![1u8; 50_000];
        let hash = store.put_blob_compressed(&data).unwrap();
        for damage in [
            "UPDATE blobs SET data = x'00112233'",
            "UPDATE blobs SET codec = 'lzma'",
            "UPDATE blobs SET size = size - 1",
        ] {
            let copy = Store::open_in_memory().unwrap();
            copy.put_blob_compressed(&data).unwrap();
            copy.conn.execute(damage, []).unwrap();
            let err = copy.blob(&hash).unwrap_err().to_string();
            assert!(
                err.contains(&hash) && err.contains("backup"),
                "{damage}: {err}"
            );
        }
        assert_eq!(store.blob(&hash).unwrap(), Some(data));
    }

    /// A database before schema 5 (no `codec` column), read without migrating it.
    #[test]
    fn blobs_of_a_database_without_codecs_read_as_raw() {
        let store = Store::open_in_memory().unwrap();
        let hash = store.put_blob(b"old bytes").unwrap();
        store
            .conn
            .execute_batch("ALTER TABLE blobs DROP COLUMN codec")
            .unwrap();
        assert_eq!(store.blob(&hash).unwrap(), Some(b"old bytes".to_vec()));
        assert_eq!(store.blob("0000").unwrap(), None);
    }
}
