//! The loom engine: the tick loop and the command API every transport calls.
//!
//! A transport (the CLI today; HTTP, MCP and chat later) turns a person's or an agent's input
//! into one of [`Engine`]'s commands and renders what comes back. No transport holds state of
//! its own, and none touches the database: everything goes through here.

mod api;
mod budget;
pub mod checks;
pub mod config;
mod driver;
mod effects;
mod error;
pub mod events;
mod policy;
pub mod project;
mod recording;
mod reexecute;
pub mod replay;
mod run_effect;
mod template;
pub mod workspace;

pub use api::{ChainReport, DriveReport, LogEntry, Status};
pub use config::{Config, Policy};
pub use driver::UNCERTAIN_PREFIX;
pub use error::{EngineError, ErrorKind, Result};
pub use events::{Observer, Silent};
pub use template::render;

use loom_kernel::Store;
use loom_runtime::{Bundle, Runtime};
use std::path::PathBuf;
use std::rc::Rc;

/// One project's engine: its config, its database and the bundles its runs use.
pub struct Engine {
    root: PathBuf,
    config: Config,
    store: Store,
    runtime: Runtime,
    bundles: Vec<Rc<Bundle>>,
    observer: std::cell::RefCell<Box<dyn Observer>>,
    /// The transport decisions arrive through, recorded with each human decision.
    transport: String,
    /// A bundle fault met while a tick was open, reported once the tick is rolled back.
    pending_fault: std::cell::RefCell<Option<String>>,
    /// The config's spending caps as a rule, built once (checked at every commit).
    budget: Option<budget::Budget>,
    /// Set when this engine re-executes a recorded run (`loom replay`) instead of a live one.
    recording: Option<recording::Recording>,
}

#[cfg(test)]
mod tests;
