use std::path::PathBuf;

/// What the engine can refuse or fail at. Each variant's text says what was wrong and what to
/// do; [`EngineError::kind`] tells a transport how to present it (exit code, HTTP status…).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Kernel(#[from] loom_kernel::KernelError),

    #[error("{0}")]
    Bundle(#[from] loom_runtime::RuntimeError),

    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A provider spec refused before anything was built or stored (`--provider`).
    #[error("provider spec: {0}; {hint}", hint = .0.hint())]
    Spec(#[from] loom_providers::SpecError),

    #[error("{0}")]
    Usage(String),

    #[error(
        "no loom project here: no .loom directory in {0} or any parent; run `loom init` first"
    )]
    NoProject(PathBuf),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Effect(String),

    /// The bundle's `apply` refused a person's decision: nothing of it was recorded.
    #[error(
        "bundle {bundle} refused the decision on gate {gate}: {message}; nothing was recorded \
         and the gate stays open: decide it again"
    )]
    DecisionRefused {
        bundle: String,
        gate: String,
        message: String,
    },

    /// Another process drives the project (it holds `.loom/driver.lock`).
    #[error(
        "this project is being driven by {}; wait for it (`--wait`), watch it with \
         `loom status` or `loom log`, or stop it with `loom abandon`", .0.describe()
    )]
    Busy(Box<crate::lock::Holder>),

    /// A decision that cannot be taken as asked (stale, already decided); nothing recorded.
    #[error("{0}")]
    Conflict(String),

    /// The origin may not do this (an agent deciding a human's gate); nothing recorded.
    #[error("{0}")]
    Forbidden(String),

    /// A fork whose bundle does not reproduce the parent's ticks up to the fork point.
    #[error(
        "the fork is refused: with bundle {bundle}, tick {seq} of run #{parent} does not come \
         out as recorded ({what}): recorded {recorded}, re-executed {replayed}; nothing was \
         written. Fork at an earlier tick, or with a bundle that keeps the parent's logic up \
         to tick {seq}"
    )]
    ForkRefused {
        bundle: String,
        parent: u64,
        seq: u64,
        what: String,
        recorded: String,
        replayed: String,
    },
}

/// How an error should be presented, independent of transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was wrong (bad arguments, nothing to act on, a second task): fix and retry.
    Usage,
    /// The project's configuration is wrong.
    Config,
    /// A rule refused what was asked.
    Refused,
    /// The bundle could not be loaded or faulted.
    Bundle,
    /// Another process drives the project; nothing was done.
    Busy,
    /// The request no longer fits the state (a stale or already-decided gate); nothing done.
    Conflict,
    /// The origin may not do this (an agent on a human's gate); nothing was done.
    Forbidden,
    /// The disk, the database or an external tool failed.
    Internal,
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        use loom_kernel::KernelError as K;
        match self {
            EngineError::Usage(_) | EngineError::NoProject(_) => ErrorKind::Usage,
            EngineError::Config { .. } | EngineError::Spec(_) => ErrorKind::Config,
            EngineError::Bundle(_) => ErrorKind::Bundle,
            EngineError::Kernel(k) => match k {
                K::TaskOpen { .. }
                | K::NoSuchRun(_)
                | K::NoSuchGate(_)
                | K::WrongDecider { .. }
                | K::RunNotActive { .. }
                | K::Conflict { .. }
                | K::NotLoom { .. }
                | K::EditedRejection(_) => ErrorKind::Usage,
                K::Violated(_) => ErrorKind::Refused,
                K::Rules(_) => ErrorKind::Bundle,
                _ => ErrorKind::Internal,
            },
            EngineError::Busy(_) => ErrorKind::Busy,
            EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::Forbidden(_) => ErrorKind::Forbidden,
            EngineError::Io { .. } | EngineError::Effect(_) => ErrorKind::Internal,
            EngineError::DecisionRefused { .. } | EngineError::ForkRefused { .. } => {
                ErrorKind::Refused
            }
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let what = what.into();
        move |source| EngineError::Io { what, source }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
