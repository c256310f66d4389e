//! Where long texts live: inline in their row when short, in the content-addressed `blobs`
//! table when long.
//!
//! A bundle may hand back a fact of a megabyte or a note of 64 KiB every tick (within the
//! runtime's limits); kept inline, every such text would make its row span overflow pages, and
//! the same text recorded again (a fact rewritten unchanged, the same note each tick, a tick's
//! change list that repeats) would be stored again. So a text longer than
//! [`TEXT_INLINE_BYTES_MAX`] is stored once as a blob under its SHA-256, and its column holds a
//! reference instead.
//!
//! The reference is the hash as a BLOB value in the TEXT column: SQLite keeps each value's own
//! type, so a reference (`typeof` = 'blob') can never be mistaken for a text (always bound as
//! TEXT), and no column had to be added: a database written before texts could move reads the
//! same, including on a read-only mount where no migration can run. Readers select such a
//! column through [`text_col!`], which resolves it in the query; a reference whose blob is
//! missing reads back as the reference itself, a BLOB, which fails to convert to a `String`
//! instead of passing for an empty text.
//!
//! A tick's change list is JSON holding the texts the tick wrote (a note, a fact's value, a
//! refusal's message). Its long strings are moved out one by one ([`compact_json`]), each as
//! the same blob its fact or gate row refers to, so a long text is stored once however many
//! rows and change lists hold it; what stays is short and usually fits its row.
//!
//! What is hashed into the chain never changes: a tick's hash covers its summary and its whole
//! change list as texts, wherever they are kept, so `verify` and replay read them back whole.

use crate::error::{KernelError, Result};
use crate::query;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};
use std::borrow::Cow;

/// Texts up to this many bytes stay in their row; longer ones are stored as a blob. 4 KiB is
/// one SQLite page, as for results: a tick's usual change list, a fact or a gate's text
/// stays in its row and costs no second write.
pub const TEXT_INLINE_BYTES_MAX: usize = 4 << 10;

/// What goes into a text column: the text itself, or a reference to the blob holding it.
pub(crate) enum Placed<'a> {
    Inline(&'a str),
    Stored(String),
}

impl ToSql for Placed<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Placed::Inline(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Placed::Stored(hash) => ToSqlOutput::Owned(Value::Blob(hash.as_bytes().to_vec())),
        })
    }
}

/// Stores `text` as a blob if it is too long to keep inline, and returns what its column holds.
pub(crate) fn place<'a>(conn: &Connection, text: &'a str) -> Result<Placed<'a>> {
    if text.len() <= TEXT_INLINE_BYTES_MAX {
        return Ok(Placed::Inline(text));
    }
    Ok(Placed::Stored(query::put_blob(conn, text.as_bytes())?))
}

/// [`place`] for a column that may be NULL.
pub(crate) fn place_opt<'a>(
    conn: &Connection,
    text: Option<&'a str>,
) -> Result<Option<Placed<'a>>> {
    text.map(|t| place(conn, t)).transpose()
}

/// How a moved-out string of a change list begins in the stored JSON; a hex SHA-256 and `"}`
/// follow. Inside a JSON string every `"` is escaped, so this text can only stand outside
/// strings, where the change list (an array of writes with fixed field names) has no such
/// object of its own: wherever it is found, it is a reference.
const REF_OPEN: &str = "{\"$text\":\"";
const REF_CLOSE: &str = "\"}";
const HASH_HEX_LEN: usize = 64;

/// `json` (a change list as serde_json writes it) with each string token longer than
/// [`TEXT_INLINE_BYTES_MAX`] stored as a blob of its text and replaced by a reference.
pub(crate) fn compact_json<'a>(conn: &Connection, json: &'a str) -> Result<Cow<'a, str>> {
    if json.len() <= TEXT_INLINE_BYTES_MAX {
        return Ok(Cow::Borrowed(json));
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(TEXT_INLINE_BYTES_MAX);
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let end = string_end(bytes, i);
        let token = &json[i..end];
        if token.len() > TEXT_INLINE_BYTES_MAX {
            // Moved out only when its text writes back to exactly this token, so that
            // `expand_json` restores the hashed bytes; serde_json's own output always does.
            if let Ok(text) = serde_json::from_str::<String>(token) {
                if serde_json::to_string(&text).is_ok_and(|back| back == token) {
                    let hash = query::put_blob(conn, text.as_bytes())?;
                    out.push_str(&json[copied..i]);
                    out.push_str(REF_OPEN);
                    out.push_str(&hash);
                    out.push_str(REF_CLOSE);
                    copied = end;
                }
            }
        }
        i = end;
    }
    if copied == 0 {
        return Ok(Cow::Borrowed(json));
    }
    out.push_str(&json[copied..]);
    Ok(Cow::Owned(out))
}

/// The end (one past the closing quote) of the JSON string token starting at `start`, or the
/// end of `bytes` if it is not closed.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The change list `stored` as it was hashed: each reference replaced by its text.
pub(crate) fn expand_json(conn: &Connection, stored: String) -> Result<String> {
    if !stored.contains(REF_OPEN) {
        return Ok(stored);
    }
    let mut out = String::with_capacity(stored.len() * 4);
    let mut rest = stored.as_str();
    while let Some(at) = rest.find(REF_OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + REF_OPEN.len()..];
        let hash = after
            .get(..HASH_HEX_LEN)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .filter(|_| after[HASH_HEX_LEN..].starts_with(REF_CLOSE))
            .ok_or_else(|| {
                KernelError::Corrupt("a change list holds a malformed text reference".into())
            })?;
        let bytes = query::blob(conn, hash)?.ok_or_else(|| {
            KernelError::Corrupt(format!(
                "a change list refers to text blob {hash}, which is missing"
            ))
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            KernelError::Corrupt(format!("text blob {hash} of a change list is not UTF-8"))
        })?;
        let token = serde_json::to_string(&text)
            .map_err(|e| KernelError::Corrupt(format!("text blob {hash}: {e}")))?;
        out.push_str(&token);
        rest = &after[HASH_HEX_LEN + REF_CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The SQL expression that reads text column `$t.$c` back as its text, wherever it is kept,
/// named `$c` in the result.
macro_rules! text_col {
    ($t:literal, $c:literal) => {
        concat!(
            "CASE typeof(",
            $t,
            ".",
            $c,
            ") WHEN 'blob' THEN coalesce(",
            "(SELECT CAST(blobs.data AS TEXT) FROM blobs WHERE blobs.hash = CAST(",
            $t,
            ".",
            $c,
            " AS TEXT)), ",
            $t,
            ".",
            $c,
            ") ELSE ",
            $t,
            ".",
            $c,
            " END AS ",
            $c
        )
    };
}
pub(crate) use text_col;

#[cfg(test)]
#[path = "texts_tests.rs"]
mod tests;
