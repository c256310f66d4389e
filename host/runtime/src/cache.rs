//! Compiled components cached on disk, keyed by content.
//!
//! Compiling a component takes milliseconds for a small Rust guest and seconds for a Python
//! one; loading the compiled artifact takes well under a millisecond. An entry is named
//! `<sha256 of the wasm>-<engine key>.cwasm`, where the engine key hashes wasmtime's
//! precompile-compatibility hash (wasmtime version, target, compiler settings), so a new loom
//! or a changed engine configuration never reads an old artifact. Next to each entry is
//! `<entry>.sha256`, the hash of the artifact itself, checked before it is deserialised.
//!
//! The cache is an optimisation: a missing, damaged or unwritable entry means compiling
//! again, never an error for the caller.

use loom_kernel::hash::{hex, sha256_hex, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

pub(crate) struct Cache {
    dir: PathBuf,
    engine_key: String,
}

/// Feeds `Hash` output into SHA-256, for a key that is stable across processes (std's
/// `DefaultHasher` is not promised to be).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Unused: the key is the full digest, taken with `finish_digest`.
        0
    }
}

/// Distinguishes temporary files of concurrent writers within one process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Cache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<Cache> {
        std::fs::create_dir_all(&dir)?;
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex(&h.0.finish()[..8]);
        Ok(Cache { dir, engine_key })
    }

    fn entry(&self, wasm_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_hash}-{}.cwasm", self.engine_key))
    }

    /// The cached compilation of the wasm whose hash is `wasm_hash`, if there is a sound one.
    pub(crate) fn load(&self, engine: &Engine, wasm_hash: &str) -> Option<Component> {
        let path = self.entry(wasm_hash);
        let bytes = std::fs::read(&path).ok()?;
        let expected = std::fs::read_to_string(sidecar(&path)).ok()?;
        if sha256_hex(&bytes) != expected.trim() {
            return None;
        }
        deserialize(engine, &bytes)
    }

    /// Writes `component` for `wasm_hash`; returns false if it could not.
    pub(crate) fn store(&self, wasm_hash: &str, component: &Component) -> bool {
        let Ok(bytes) = component.serialize() else {
            return false;
        };
        let path = self.entry(wasm_hash);
        // Artifact first, then its hash: a reader that finds the hash finds the artifact it
        // describes (both land by rename, so neither is ever seen half-written).
        write_atomic(&path, &bytes).is_ok()
            && write_atomic(&sidecar(&path), sha256_hex(&bytes).as_bytes()).is_ok()
    }
}

/// Deserialises a compiled component from bytes whose hash was just checked.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> Option<Component> {
    // SAFETY: `Component::deserialize` runs the machine code in `bytes`, so the bytes must be
    // an artifact wasmtime produced. These were written by `Component::serialize` in
    // `Cache::store` into loom's own cache directory, and their SHA-256 was verified against
    // the hash written with them just before this call, from the same in-memory buffer (so
    // the file cannot change between check and use, as it could with `deserialize_file`'s
    // mmap). wasmtime itself checks that the artifact's engine settings and version match.
    // What this does not defend against is someone who can write both files in the cache
    // directory; such a person can already replace the loom binary or its bundles.
    unsafe { Component::deserialize(engine, bytes) }.ok()
}

fn sidecar(entry: &Path) -> PathBuf {
    let mut name = entry.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        // Leave no litter; the rename error is the one worth returning.
        let _ = std::fs::remove_file(&tmp);
    })
}
