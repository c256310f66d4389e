//! The wasm engine loom runs bundles on, and turning bytes into compiled components.

use crate::bundle::{Bundle, Invariants};
use crate::cache::Cache;
use crate::contract::{self, ComponentReport};
use crate::error::RuntimeError;
use loom_kernel::hash::sha256_hex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bounds on every single call into a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wasm fuel (about one unit per instruction, plus a fixed charge per host call) per call.
    /// Deterministic: a call that runs out does so at the same point every time.
    pub fuel_per_call: u64,
    /// Cap on a call's linear memory, in bytes; growth past it fails.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// One billion fuel: a small Rust bundle's `check` (fresh instance, two view reads) needs
    /// about 20 thousand, so interpreted bundles (Python, JS) have ample room, while a tight
    /// endless loop exhausts it in under a tenth of a second on the 2-core development machine.
    /// 64 MiB of memory: a Rust guest starts at about 1 MiB.
    fn default() -> Self {
        Limits {
            fuel_per_call: 1_000_000_000,
            memory_bytes: 64 << 20,
        }
    }
}

/// How many calls may be in flight at once across all threads sharing one [`Runtime`]. Each
/// call holds one instance for its duration; the pooling allocator reserves their slots up
/// front (mostly address space), so this is kept small.
const POOL_INSTANCES: u32 = 32;

/// Memory kept resident per pool slot between calls (see `Runtime::new`): enough for what a
/// small Rust guest touches in a call (its stack and a little heap).
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Counters of the compiled-code cache, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled from wasm by this runtime.
    pub compiled: u64,
    /// Components loaded from the on-disk cache instead.
    pub loaded: u64,
    /// Compiled components that could not be written to the cache.
    pub write_failures: u64,
}

/// One wasm engine for all bundles: cheap to clone and to share between threads.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    limits: Limits,
    cache: Option<Cache>,
    compiled: AtomicU64,
    loaded: AtomicU64,
    write_failures: AtomicU64,
}

impl Runtime {
    /// An engine with the given limits; compiled components are cached in `cache_dir` if given.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Runtime, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 8)
            .max_memory_size(limits.memory_bytes)
            // Every call gets a fresh instance, so slots are reset constantly. Keeping the low
            // memory resident and resetting only the pages a call dirtied (found with Linux's
            // PAGEMAP_SCAN where available) avoids an madvise and a page fault per touched page
            // per call, which otherwise dominate a short call.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES / 16)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            // Determinism: replaying a run must make every bundle call do exactly what it did.
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = match cache_dir {
            Some(dir) => {
                Some(
                    Cache::new(dir.clone(), &engine).map_err(|e| RuntimeError::Cache {
                        path: dir,
                        detail: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                limits,
                cache,
                compiled: AtomicU64::new(0),
                loaded: AtomicU64::new(0),
                write_failures: AtomicU64::new(0),
            }),
        })
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.inner.compiled.load(Ordering::Relaxed),
            loaded: self.inner.loaded.load(Ordering::Relaxed),
            write_failures: self.inner.write_failures.load(Ordering::Relaxed),
        }
    }

    /// Loads a component of world `bundle`, reads its manifest and checks it: an unsound
    /// manifest is refused with every problem found (`RuntimeError::Manifest`).
    pub fn load_bundle(&self, wasm: &[u8]) -> Result<Bundle, RuntimeError> {
        Bundle::load(self, wasm)
    }

    /// Loads rules to check a run against: a component of world `invariants`, or any bundle
    /// (whose `rules` export is used).
    pub fn load_invariants(&self, wasm: &[u8]) -> Result<Invariants, RuntimeError> {
        Invariants::load(self, wasm)
    }

    /// Describes a component without running it (for `loom bundle check`). A component that
    /// targets an unsupported contract is described, not refused; bytes that are not a
    /// component are an error.
    pub fn inspect(&self, wasm: &[u8]) -> Result<ComponentReport, RuntimeError> {
        let hash = sha256_hex(wasm);
        let component = self.compile(wasm, &hash, &short_label(&hash))?;
        Ok(contract::report(
            &component.component_type(),
            &self.inner.engine,
            hash,
            wasm.len(),
        ))
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The compiled component for `wasm` (whose hash is `hash`), from the cache if possible.
    pub(crate) fn compile(
        &self,
        wasm: &[u8],
        hash: &str,
        label: &str,
    ) -> Result<Component, RuntimeError> {
        sniff(wasm, label)?;
        let engine = &self.inner.engine;
        if let Some(cache) = &self.inner.cache {
            if let Some(component) = cache.load(engine, hash) {
                self.inner.loaded.fetch_add(1, Ordering::Relaxed);
                return Ok(component);
            }
        }
        let component = Component::new(engine, wasm).map_err(|e| RuntimeError::Invalid {
            bundle: label.to_owned(),
            detail: format!("{e:#}"),
        })?;
        self.inner.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some(cache) = &self.inner.cache {
            if !cache.store(hash, &component) {
                self.inner.write_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(component)
    }
}

/// How a bundle is named before its manifest has been read.
pub(crate) fn short_label(hash: &str) -> String {
    format!("sha256:{}", &hash[..12.min(hash.len())])
}

/// Says plainly what `wasm` is when it is not a component, rather than passing on a parser
/// error about section ids. WebAssembly text is let through: wasmtime compiles it (the tests'
/// hand-written components use it).
fn sniff(wasm: &[u8], label: &str) -> Result<(), RuntimeError> {
    let not = |detail: &str| {
        Err(RuntimeError::NotAComponent {
            what: format!("bundle {label}"),
            detail: detail.to_owned(),
        })
    };
    if let Some(header) = wasm.strip_prefix(b"\0asm") {
        // Bytes 4..6 are the version, 6..8 the layer: 0 for a core module, 1 for a component.
        return match header.get(2..4) {
            Some([1, 0]) => Ok(()),
            Some([0, 0]) => not(
                "it is a core WebAssembly module; build it for wasm32-wasip2, or wrap it with \
                 `wasm-tools component new`",
            ),
            _ => not("its header is truncated or of an unknown layer"),
        };
    }
    let text = std::str::from_utf8(wasm).map(str::trim_start);
    match text {
        Ok(t) if t.starts_with('(') || t.starts_with(";;") => Ok(()),
        _ => not("it does not start with the WebAssembly magic bytes (\\0asm)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine shares one runtime between threads; bundles stay on the thread of their run.
    #[test]
    fn runtime_is_shareable() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Runtime>();
    }

    #[test]
    fn sniff_names_what_bytes_are() {
        assert!(sniff(b"\0asm\x0d\0\x01\0", "x").is_ok());
        assert!(sniff(b"  (component)", "x").is_ok());
        let core = sniff(b"\0asm\x01\0\0\0", "x").err().map(|e| e.to_string());
        assert!(core.is_some_and(|e| e.contains("core WebAssembly module")));
        assert!(sniff(b"", "x").is_err());
        assert!(sniff(b"\0asm", "x").is_err());
    }
}
