//! What each tool takes and gives back. Inputs derive their JSON Schema (the tool's
//! `inputSchema`); outputs derive theirs (the tool's `outputSchema`) and are what goes into
//! `structuredContent`. Nested engine records the model rarely needs whole are carried as
//! free JSON (`detail`), so the schema stays honest without mirroring every kernel type.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest task title accepted (a title is a line, not a document).
pub const TITLE_MAX_BYTES: usize = 4096;
/// Longest note or reason kept with a decision or an abandon.
pub const NOTE_MAX_BYTES: usize = 8192;
/// Longest wait a tool call may ask for: MCP hosts time tool calls out after minutes.
pub const WAIT_MAX_S: u64 = 300;
/// Log entries per page, by default and at most.
pub const LOG_LIMIT_DEFAULT: usize = 50;
pub const LOG_LIMIT_MAX: usize = 200;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StartTaskArgs {
    /// What should be done, in one line (the task's title; the agents read it).
    pub title: String,
    /// One provider for every agent role, e.g. `scripted:.loom/replies.toml` (default: the
    /// project's configuration).
    pub provider: Option<String>,
    /// A bundle component (.wasm) inside the project, relative to its root (default: the
    /// built-in `code` bundle).
    pub bundle_path: Option<String>,
    /// Seconds to wait for the run to come to rest (a gate, a stop, the end), at most 300;
    /// progress is reported per tick when the request carries a progress token. Default 0:
    /// return at once with the run id while it drives on.
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitArgs {
    /// Seconds to wait for the run to come to rest, at most 300 (default 0: return at once).
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GatesArgs {
    /// Include decided gates too.
    pub all: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DecideArgs {
    /// The gate's name or id, as `gates` lists it. Only gates whose decider is `agent`.
    pub gate: String,
    pub approved: bool,
    /// A note with an approval; the reason with a rejection (required then: the agents read it).
    pub note: Option<String>,
    /// The `shown_hash` of the gate as `gates` listed it (or its first 8+ hex digits): the
    /// decision is refused, with nothing recorded, if the gate now shows something else.
    pub shown_hash: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogArgs {
    /// Which run (default: the current one).
    pub run: Option<u64>,
    /// Only ticks after this seq (for paging: pass the previous page's `next_since_seq`).
    pub since_seq: Option<u64>,
    /// Ticks per page (default 50, at most 200).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LedgerArgs {
    pub run: u64,
    /// The ledger key, as `log` lists it (e.g. `r1/review#1`).
    pub key: String,
    pub attempt: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AbandonArgs {
    /// Why the task is dropped (kept in the record).
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForkArgs {
    /// The run to fork.
    pub run: u64,
    /// The last tick the fork shares with the run (its ticks up to there are re-executed
    /// from the record: no provider call, no command).
    pub at: u64,
    /// New wording for the task, from the fork point on.
    pub task: Option<String>,
    /// One provider spec for every agent role after the fork point.
    pub provider: Option<String>,
    /// Abandon the open task to make room for the fork.
    #[serde(default)]
    pub replace: bool,
    /// Follow the fork for up to this many seconds.
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct VerifyArgs {
    /// Which run (default: every run).
    pub run: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReplayArgs {
    /// Which run (default: every run).
    pub run: Option<u64>,
    /// A component of the `invariants` world (.wasm) inside the project, evaluated at every
    /// tick's commit point: "would this rule have caught it?"
    pub invariants_path: Option<String>,
}

/// A gate as an agent needs it to decide.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GateBrief {
    pub id: u64,
    pub run: u64,
    pub name: String,
    /// `human`, `agent` or `rule`: an MCP caller may only decide `agent` gates.
    pub decider: String,
    pub status: String,
    pub summary: String,
    pub shown_hash: String,
}

/// Where a run is, after a command or a wait.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunOut {
    pub run: u64,
    /// `running`, `waiting`, `stopped`, `done`, `failed` or `abandoned`.
    pub status: String,
    pub reason: Option<String>,
    /// The run's newest tick.
    pub last_seq: u64,
    /// Ticks committed while this call waited.
    pub ticks_seen: u64,
    /// Whether the run came to rest within the wait (false: it drives on in the background).
    pub at_rest: bool,
    pub pending_gates: Vec<GateBrief>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusOut {
    pub task: Option<String>,
    pub run: Option<u64>,
    pub run_status: Option<String>,
    /// The process driving the project right now, if any.
    pub driver: Option<String>,
    pub pending_gates: Vec<GateBrief>,
    /// Everything `loom status --json` shows.
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GatesOut {
    pub gates: Vec<GateBrief>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TickBrief {
    pub seq: u64,
    pub kind: String,
    pub step: Option<String>,
    pub decider: Option<String>,
    pub summary: String,
    pub hash: String,
    /// Ledger rows committed in this tick, as `key attempt N status`.
    pub ledger: Vec<LedgerRef>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LedgerRef {
    pub key: String,
    pub attempt: u32,
    pub kind: String,
    pub status: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LogOut {
    pub run: u64,
    pub ticks: Vec<TickBrief>,
    /// Pass as `since_seq` for the next page; absent on the last page.
    pub next_since_seq: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LedgerOut {
    /// The ledger row itself (key, attempt, status, hashes, metadata).
    pub row: serde_json::Value,
    /// What was asked (the prompt, the command, the diff to apply), as stored.
    pub request: Option<serde_json::Value>,
    /// What came back (the reply, the command's output), as stored.
    pub result: Option<serde_json::Value>,
    /// The diff an agent made to the tree, when it made one.
    pub diff: Option<String>,
    /// Whether a part was cut at 256 KiB.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DoneOut {
    pub run: u64,
    pub task: u64,
    /// `abandoned`, or `abandon-requested` while an effect in flight finishes (it is then
    /// recorded at the run's next tick boundary).
    pub status: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChainOut {
    pub run: u64,
    pub ticks: usize,
    pub intact: bool,
    /// The first edited, deleted or reordered tick, when the chain is broken.
    pub broken: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyOut {
    pub runs: Vec<ChainOut>,
    pub all_intact: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReplayBrief {
    pub run: u64,
    pub identical: bool,
    pub recorded_ticks: usize,
    pub replayed_ticks: usize,
    /// The first tick that does not reproduce, and how.
    pub divergence: Option<String>,
    /// Each rule that fired, at its first tick.
    pub firings: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReplayOut {
    pub runs: Vec<ReplayBrief>,
    pub all_identical: bool,
    pub nothing_fired: bool,
}
