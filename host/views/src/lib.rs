//! `loom-views`: the JSON vocabulary of loom. `loom … --json`, the HTTP API and its OpenAPI
//! document all speak these types, so a field means the same thing and is spelt the same way
//! wherever it is read.
//!
//! The rules they follow:
//! - a field the kernel stores as JSON text (`changes`, `meta`, `settings`, `options`, a
//!   fact's `value`) is a JSON value here, never a string holding JSON, so `jq '.meta.tokens'`
//!   works;
//! - every enum has one spelling, kebab-case (`gate-open`), the one `TickKind::as_str` gives
//!   and `loom replay --ticks` prints;
//! - nothing that changes from one look to the next (a replay's wall-clock time) is in a view
//!   that people compare.

mod reports;
mod rows;

pub use reports::{
    ChainBreak, ChainReport, Divergence, DriveReport, Driver, ErrorView, Firing, LogEntry,
    ReplayTick, RunReplay, Status,
};
pub use rows::{Fact, Gate, LedgerRow, Run, Task, Tick, Violation};

use loom_engine::ErrorKind;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A tick's recorded change list as a JSON value: the one place the view layer reads
/// `changes`. The stored text is exactly what is hashed into the chain; how large texts are
/// kept inside it may change in the kernel, and this function is where a view follows.
pub fn changes_value(changes: &str) -> Value {
    json_text(changes)
}

/// A field the kernel keeps as JSON text, as the value it holds. Text that is not JSON (a
/// damaged row) is kept as a string rather than lost: a view shows what is there.
pub fn json_text(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The name of an engine error kind: the `kind` of an HTTP problem, of `--json` errors and of
/// MCP errors alike.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Usage => "usage",
        ErrorKind::Config => "config",
        ErrorKind::Refused => "refused",
        ErrorKind::Bundle => "bundle",
        ErrorKind::Busy => "busy",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::Internal => "internal",
    }
}

/// An enum of the kernel, spelt once: each variant's name is the kernel's `as_str`, and the
/// exhaustive `match` makes a new kernel variant a compile error here until it has a name.
macro_rules! view_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl From<loom_kernel::$name> for $name {
            fn from(k: loom_kernel::$name) -> Self {
                match k { $(loom_kernel::$name::$variant => $name::$variant),+ }
            }
        }
    };
}

view_enum!(
    /// What a tick did.
    TickKind {
        Start = "start",
        Effect = "effect",
        GateOpen = "gate-open",
        Decision = "decision",
        Finish = "finish",
        Violation = "violation",
        Fault = "fault",
        Hold = "hold",
        Resume = "resume",
        Abandon = "abandon",
        Fork = "fork",
    }
);
view_enum!(
    /// Where a run is.
    RunStatus {
        Running = "running",
        Waiting = "waiting",
        Stopped = "stopped",
        Done = "done",
        Failed = "failed",
        Abandoned = "abandoned",
    }
);
view_enum!(TaskStatus { Open = "open", Done = "done", Failed = "failed", Abandoned = "abandoned" });
view_enum!(GateStatus { Pending = "pending", Approved = "approved", Rejected = "rejected" });
view_enum!(
    /// Who decides a gate.
    Decider { Human = "human", Agent = "agent", Rule = "rule" }
);
view_enum!(
    /// How much is at stake at a gate.
    Risk { Low = "low", Medium = "medium", High = "high" }
);
view_enum!(
    /// A ledger row's state.
    LedgerStatus {
        Intent = "intent",
        Done = "done",
        Failed = "failed",
        Refused = "refused",
        Superseded = "superseded",
    }
);

#[cfg(test)]
mod tests;
