//! The loom engine: the tick loop and the command API every transport calls.
//!
//! A transport (the CLI today; HTTP, MCP and chat later) turns a person's or an agent's input
//! into one of [`Engine`]'s commands and renders what comes back. No transport holds state of
//! its own, and none touches the database: everything goes through here.

mod api;
mod budget;
pub mod checks;
mod commands;
pub mod config;
mod cost_check;
mod driver;
mod effects;
mod error;
pub mod events;
pub mod fork;
mod fork_prefix;
mod gate_steps;
pub mod lock;
pub mod mailbox;
pub mod money;
mod needs;
pub mod origin;
mod policy;
pub mod project;
pub mod reads;
mod recording;
mod reexecute;
pub mod replay;
mod replay_workers;
mod run_effect;
pub mod stops;
mod tally;
mod template;
pub mod workspace;

pub use api::{ChainReport, DriveReport, LogEntry, Status, RUN_FORMAT};
pub use commands::AbandonOutcome;
pub use config::{Config, HumanGates, McpConfig, Policy, TelegramConfig};
pub use driver::UNCERTAIN_PREFIX;
pub use error::{EngineError, ErrorKind, Result};
pub use events::{Observer, Silent};
pub use fork::{ForkRequest, Forked};
pub use lock::{DriverLock, Holder};
pub use origin::{Actor, Decision, Origin};
pub use stops::Stop;
pub use template::render;

use loom_kernel::Store;
use loom_runtime::{Bundle, Runtime};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// One project's engine: its config, its database and the bundles its runs use.
pub struct Engine {
    root: PathBuf,
    config: Config,
    store: Store,
    runtime: Runtime,
    bundles: Vec<Arc<Bundle>>,
    observer: std::cell::RefCell<Box<dyn Observer>>,
    /// The transport decisions arrive through, recorded with each human decision.
    transport: String,
    /// A bundle fault met while a tick was open, reported once the tick is rolled back.
    pending_fault: std::cell::RefCell<Option<String>>,
    /// The spending caps of the run being driven, as a rule, built once per run (and again
    /// when a resume changes them); checked at every commit.
    budget: std::cell::RefCell<Option<(u64, Option<Rc<budget::Budget>>)>>,
    /// Running counts over the ledger of the run being driven (see `tally`).
    tally: std::cell::RefCell<Option<tally::Tally>>,
    /// Set when this engine re-executes a recorded run (`loom replay`) instead of a live one.
    recording: Option<recording::Recording>,
    /// The right to drive this project, taken by the first command that writes.
    lock: Option<DriverLock>,
}

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
