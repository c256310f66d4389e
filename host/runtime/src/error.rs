//! What loading or calling a bundle can fail with.
//!
//! Every variant names the bundle (`name@version` once its manifest is known, `sha256:<12 hex>`
//! before) and, for calls, which export was running, because the person reading the message
//! usually has several bundles and needs to know which one to fix. A bundle's own typed
//! error (`apply` returning `err`) is not here: it is a value, not a fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{what} is not a WebAssembly component: {detail}")]
    NotAComponent { what: String, detail: String },

    #[error("bundle {bundle} is not valid: {detail}")]
    Invalid { bundle: String, detail: String },

    #[error("bundle {bundle} targets loom:bundle@{found}, this loom supports {supported}")]
    UnsupportedVersion {
        bundle: String,
        found: String,
        supported: &'static str,
    },

    #[error(
        "bundle {bundle} neither imports nor exports any loom:bundle interface, so it is not \
         a loom bundle (build it against wit/bundle.wit, e.g. with loom-sdk)"
    )]
    NotABundle { bundle: String },

    #[error("bundle {bundle} cannot be linked: {detail}")]
    Link { bundle: String, detail: String },

    #[error("bundle {bundle} ran out of fuel (limit {limit}) in {call}: it may loop forever")]
    OutOfFuel {
        bundle: String,
        call: &'static str,
        limit: u64,
    },

    #[error("bundle {bundle} ran out of memory (limit {limit_bytes} bytes) in {call}")]
    OutOfMemory {
        bundle: String,
        call: &'static str,
        limit_bytes: usize,
    },

    #[error(
        "bundle {bundle} called {import} in {call}, which loom does not grant (bundles get no \
         files, clock, random source, network or output){hint}"
    )]
    Denied {
        bundle: String,
        call: &'static str,
        import: String,
        /// Empty, or a sentence (with its leading separator) on the likely cause.
        hint: &'static str,
    },

    #[error("bundle {bundle} trapped in {call}: {detail}")]
    Trap {
        bundle: String,
        call: &'static str,
        detail: String,
    },

    #[error("bundle {bundle} could not read the run's state in {call}: {detail}")]
    View {
        bundle: String,
        call: &'static str,
        detail: String,
    },

    /// The bundle handed back more than a limit of [`crate::limits`] allows.
    #[error(
        "bundle {bundle} went over {limit} in {call}: {what} is {found} {unit}, and the limit \
         is {max} {unit}"
    )]
    Limit {
        bundle: String,
        call: &'static str,
        /// The constant's name, e.g. `FINISH_TEXT_BYTES_MAX`.
        limit: &'static str,
        max: u64,
        found: u64,
        unit: &'static str,
        what: String,
    },

    /// The manifest is unsound; every problem found, each saying what to fix.
    #[error(
        "bundle {bundle} declares a manifest loom cannot run ({} problem{}):{}",
        .problems.len(),
        if .problems.len() == 1 { "" } else { "s" },
        bullets(.problems)
    )]
    Manifest {
        bundle: String,
        problems: Vec<String>,
    },

    #[error("the wasm engine could not be set up: {0}")]
    Engine(String),

    #[error("compiled-code cache {}: {detail}", path.display())]
    Cache { path: PathBuf, detail: String },
}

/// Problems one per line, so a long list stays readable in a terminal.
fn bullets(problems: &[String]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}
