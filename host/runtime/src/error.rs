//! What loading or calling a bundle can fail with.
//!
//! Every variant names the bundle (`name@version` once its manifest is known, `sha256:<12 hex>`
//! before) and, for calls, which export was running, because the person reading the message
//! usually has several bundles and needs to know which one to fix. A bundle's refusal of an
//! outcome (`apply` returning `err`, or `refused` from 0.2.0) is not here: it is a value, not a
//! fault. A failure the bundle reports of its own code (0.2.0's `failure`) is, and so is a
//! trap; both carry the last lines the bundle wrote to `log` in that call.

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
         a loom bundle (build it against a contract in wit/, e.g. with loom-sdk)"
    )]
    NotABundle { bundle: String },

    #[error(
        "bundle {bundle} targets loom:bundle@{contract} but also names {others}; a component \
         targets one contract version, so build all of it against one"
    )]
    MixedVersions {
        bundle: String,
        contract: &'static str,
        others: String,
    },

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
         files, clock, random source, network or output){hint}{}", log_block(.log)
    )]
    Denied {
        bundle: String,
        call: &'static str,
        import: String,
        /// Empty, or a sentence (with its leading separator) on the likely cause.
        hint: &'static str,
        /// The last lines the bundle wrote to `log` in the call, oldest first.
        log: Vec<String>,
    },

    #[error("bundle {bundle} trapped in {call}: {detail}{}", log_block(.log))]
    Trap {
        bundle: String,
        call: &'static str,
        detail: String,
        /// The last lines the bundle wrote to `log` in the call (a Rust SDK bundle's panic
        /// message is the last of them), oldest first.
        log: Vec<String>,
    },

    /// The bundle reported a failure of its own code (an exception, a panic it caught).
    #[error(
        "bundle {bundle} failed in {call}: {message}{}{}",
        block("traceback", .traceback.as_deref()),
        log_block(.log)
    )]
    Failed {
        bundle: String,
        call: &'static str,
        /// Cut to [`crate::limits::FAILURE_TEXT_BYTES_MAX`], as is the traceback.
        message: String,
        traceback: Option<String>,
        log: Vec<String>,
    },

    /// A 0.2.0 bundle asked to run a command its manifest's needs do not declare.
    #[error(
        "bundle {bundle} asked in {call} to run command `{command}`, which its manifest does \
         not declare in needs.commands (declared: {declared}); declare it, so loom checks \
         that the project configures it before a task opens"
    )]
    Undeclared {
        bundle: String,
        call: &'static str,
        command: String,
        declared: String,
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

/// `text` under a heading, indented, on lines of its own; nothing when there is none.
fn block(title: &str, text: Option<&str>) -> String {
    match text {
        Some(t) if !t.trim().is_empty() => {
            let body: String = t.lines().map(|l| format!("\n    {l}")).collect();
            format!("\n  {title}:{body}")
        }
        _ => String::new(),
    }
}

fn log_block(lines: &[String]) -> String {
    block("its last log lines", Some(&lines.join("\n")))
}

/// Problems one per line, so a long list stays readable in a terminal.
fn bullets(problems: &[String]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}
