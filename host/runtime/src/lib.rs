//! Runs loom bundles: WebAssembly components of the `loom:bundle` contract, sandboxed and
//! metered with wasmtime.
//!
//! Every released version of the contract (`wit/<version>/bundle.wit`) stays supported: the
//! host binds each one it knows ([`crate::wit`]), tells from a component's import and export
//! names which one it targets, and converts its values into one internal model
//! ([`types`]), so a 0.1.0 bundle keeps loading, running and replaying beside 0.2.0 ones.
//!
//! A bundle gets the read-only `view` of its run (and from 0.2.0 a `log`) and nothing else:
//! every other import it declares is linked to a stub that traps naming the import. Each call runs in a fresh store
//! and instance with a fuel budget and a memory cap ([`Limits`]), so a looping, hoarding or
//! crashing bundle becomes a [`RuntimeError`] naming it, and the process carries on. What a
//! call hands back is bounded too ([`limits`]), and a manifest is checked when it is loaded.
//! Fuel, NaN canonicalisation and deterministic relaxed SIMD make a call repeatable, which
//! replay relies on.
//!
//! The engine sees only the plain types of [`types`]; the generated bindings stay private.

mod bundle;
mod cache;
mod contract;
mod error;
mod host;
pub mod limits;
mod manifest;
mod runtime;
pub mod types;
mod wit;

pub use bundle::{Bundle, Invariants};
pub use contract::{
    is_supported, ComponentReport, Contract, ExportReport, ImportReport, SUPPORTED_RANGE,
};
pub use error::RuntimeError;
pub use manifest::UNCERTAIN_PREFIX;
pub use runtime::{CacheStats, Limits, Runtime};
pub use types::*;
