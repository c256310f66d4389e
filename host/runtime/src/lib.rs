//! Runs loom bundles: WebAssembly components of the `loom:bundle` contract (`wit/bundle.wit`),
//! sandboxed and metered with wasmtime.
//!
//! A bundle gets the read-only `view` of its run and nothing else: every other import it
//! declares is linked to a stub that traps naming the import. Each call runs in a fresh store
//! and instance with a fuel budget and a memory cap ([`Limits`]), so a looping, hoarding or
//! crashing bundle becomes a [`RuntimeError`] naming it, and the process carries on. What a
//! call hands back is bounded too ([`limits`]), and a manifest is checked when it is loaded.
//! Fuel, NaN canonicalisation and deterministic relaxed SIMD make a call repeatable, which
//! replay relies on.
//!
//! The engine sees only the plain types of [`types`]; the generated bindings stay private.

mod bindings;
mod bundle;
mod cache;
mod contract;
mod convert;
mod error;
mod host;
pub mod limits;
mod manifest;
mod runtime;
pub mod types;

pub use bundle::{Bundle, Invariants};
pub use contract::{is_supported, ComponentReport, ExportReport, ImportReport, SUPPORTED_RANGE};
pub use error::RuntimeError;
pub use manifest::UNCERTAIN_PREFIX;
pub use runtime::{CacheStats, Limits, Runtime};
pub use types::*;
