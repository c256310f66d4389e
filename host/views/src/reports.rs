//! What the engine's reads and commands report, as shown: status, a run's log, the chain
//! check, a replay, where a driven run ended, and an error.

use crate::rows::{all, Fact, Gate, LedgerRow, Run, Task, Tick, Violation};
use crate::TickKind;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The process that drives the project right now.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Driver {
    pub pid: u32,
    /// Its command line, e.g. `loom run fix the median`.
    pub command: String,
    /// The transport it drives through (`cli`, `http`, …).
    pub transport: String,
    /// When it took the driver lock (Unix ms, wall clock).
    pub since_ms: u64,
}

impl From<&loom_engine::Holder> for Driver {
    fn from(h: &loom_engine::Holder) -> Driver {
        Driver {
            pid: h.pid,
            command: h.command.clone(),
            transport: h.transport.clone(),
            since_ms: h.since_ms,
        }
    }
}

/// Why a run stopped, typed: `{"code": "max-ticks", "taken": 200}`,
/// `{"code": "bundle-fault", "message": …}`, `effect-failed`, `result-refused`.
fn stop(s: &Option<loom_engine::Stop>) -> Option<Value> {
    // The stop's own serde form is already the vocabulary's (tagged by `code`, kebab-case).
    s.as_ref().and_then(|s| serde_json::to_value(s).ok())
}

/// `loom status --json`, `GET /api/v1/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// The open task (none when the newest run ended).
    pub task: Option<Task>,
    /// The open task's run, or the newest run.
    pub run: Option<Run>,
    pub pending_gates: Vec<Gate>,
    pub driver: Option<Driver>,
    /// Effects the live driver is performing now.
    pub in_flight: Vec<LedgerRow>,
    /// Effects started, never recorded as finished, with no driver alive: they may or may
    /// not have happened.
    pub uncertain: Vec<LedgerRow>,
    pub violations: Vec<Violation>,
    pub facts: Vec<Fact>,
    /// Why the run stopped, when it is stopped: an object tagged by `code`.
    #[schema(value_type = Option<Object>)]
    pub stop: Option<Value>,
}

impl From<&loom_engine::Status> for Status {
    fn from(s: &loom_engine::Status) -> Status {
        Status {
            task: s.task.as_ref().map(Task::from),
            run: s.run.as_ref().map(Run::from),
            pending_gates: all(&s.pending_gates),
            driver: s.driver.as_ref().map(Driver::from),
            in_flight: all(&s.in_flight),
            uncertain: all(&s.uncertain),
            violations: all(&s.violations),
            facts: all(&s.facts),
            stop: stop(&s.stop),
        }
    }
}

/// A tick with the ledger rows it committed (`loom log --json` holds a list of these).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogEntry {
    pub tick: Tick,
    pub ledger: Vec<LedgerRow>,
}

impl From<&loom_engine::LogEntry> for LogEntry {
    fn from(e: &loom_engine::LogEntry) -> LogEntry {
        LogEntry {
            tick: Tick::from(&e.tick),
            ledger: all(&e.ledger),
        }
    }
}

/// Where a run's chain does not hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainBreak {
    pub seq: u64,
    pub problem: String,
    pub expected: String,
    pub found: String,
}

/// `loom verify --json`, `GET /api/v1/verify`: one per run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainReport {
    pub run: u64,
    pub ticks: usize,
    /// The first break; none when the chain is intact.
    pub broken: Option<ChainBreak>,
    /// For a fork: the run it was forked from and the last tick they share (checked to be
    /// that run's, tick for tick).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fork: Option<ForkPoint>,
}

/// Where a fork comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForkPoint {
    pub run: u64,
    pub at: u64,
    /// The hash of that run's tick `at`.
    pub hash: String,
}

impl From<&loom_engine::reads::ChainReport> for ChainReport {
    fn from(r: &loom_engine::reads::ChainReport) -> ChainReport {
        ChainReport {
            run: r.run,
            ticks: r.ticks,
            broken: r.broken.as_ref().map(|b| ChainBreak {
                seq: b.seq,
                problem: b.problem.clone(),
                expected: b.expected.clone(),
                found: b.found.clone(),
            }),
            fork: r.fork.as_ref().map(|f| ForkPoint {
                run: f.run,
                at: f.at,
                hash: f.hash.clone(),
            }),
        }
    }
}

/// The first tick where a replay departs from the recording, with both sides.
#[derive(Debug, Serialize, ToSchema)]
pub struct Divergence {
    pub seq: u64,
    pub step: Option<String>,
    /// Which part differs (`change 2 (run-start), field phase`, `summary`, …).
    pub what: String,
    pub recorded: String,
    pub replayed: String,
}

/// The first tick at which a rule fires.
#[derive(Debug, Serialize, ToSchema)]
pub struct Firing {
    /// `bundle` (the run's own rules) or `invariants` (a component given to the replay).
    pub source: String,
    pub seq: u64,
    pub step: Option<String>,
    pub rule: String,
    pub message: String,
    pub rows: Vec<String>,
}

/// One recorded tick and what replaying it found (`--ticks`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayTick {
    pub seq: u64,
    pub unix_ms: u64,
    /// The recorded kind; none only for a kind this loom does not know.
    pub kind: Option<TickKind>,
    pub step: Option<String>,
    pub decider: Option<String>,
    pub summary: String,
    /// The ledger rows (`key#attempt`) committed in this tick.
    pub ledger: Vec<String>,
    /// Whether re-executing reproduced it; none when the replay stopped before it.
    pub reproduced: Option<bool>,
    /// The rules that fire on the state this tick committed.
    pub fired: Vec<String>,
}

/// `loom replay --json` (a list of these), `POST /api/v1/replay`. No wall-clock time: the
/// same recording replays to the same report, byte for byte.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunReplay {
    pub run: u64,
    pub task: u64,
    pub title: String,
    pub recorded_ticks: usize,
    pub replayed_ticks: usize,
    /// Every tick reproduced.
    pub identical: bool,
    pub divergence: Option<Divergence>,
    pub firings: Vec<Firing>,
    /// Rules that could not be evaluated (trap, exhausted fuel), with the tick.
    pub faults: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ticks: Vec<ReplayTick>,
}

impl From<&loom_engine::replay::RunReplay> for RunReplay {
    fn from(r: &loom_engine::replay::RunReplay) -> RunReplay {
        RunReplay {
            run: r.run,
            task: r.task,
            title: r.title.clone(),
            recorded_ticks: r.recorded_ticks,
            replayed_ticks: r.replayed_ticks,
            identical: r.identical,
            divergence: r.divergence.as_ref().map(|d| Divergence {
                seq: d.seq,
                step: d.step.clone(),
                what: d.what.clone(),
                recorded: d.recorded.clone(),
                replayed: d.replayed.clone(),
            }),
            firings: r
                .firings
                .iter()
                .map(|f| Firing {
                    source: f.source.clone(),
                    seq: f.seq,
                    step: f.step.clone(),
                    rule: f.rule.clone(),
                    message: f.message.clone(),
                    rows: f.rows.clone(),
                })
                .collect(),
            faults: r.faults.clone(),
            ticks: r
                .ticks
                .iter()
                .map(|t| ReplayTick {
                    seq: t.seq,
                    unix_ms: t.unix_ms,
                    kind: loom_kernel::TickKind::parse(&t.kind).map(TickKind::from),
                    step: t.step.clone(),
                    decider: t.decider.clone(),
                    summary: t.summary.clone(),
                    ledger: t.ledger.clone(),
                    reproduced: t.reproduced,
                    fired: t.fired.clone(),
                })
                .collect(),
        }
    }
}

/// Where a run stands after a command drove it (`POST /api/v1/abandon`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DriveReport {
    pub run: Run,
    pub task: Task,
    /// Gates waiting for a human.
    pub waiting_on: Vec<Gate>,
    pub violations: Vec<Violation>,
    /// Why the run stopped, when it stopped: an object tagged by `code`.
    #[schema(value_type = Option<Object>)]
    pub stop: Option<Value>,
}

impl From<&loom_engine::DriveReport> for DriveReport {
    fn from(r: &loom_engine::DriveReport) -> DriveReport {
        DriveReport {
            run: Run::from(&r.run),
            task: Task::from(&r.task),
            waiting_on: all(&r.waiting_on),
            violations: all(&r.violations),
            stop: stop(&r.stop),
        }
    }
}

/// An error under `--json` (on stderr): the same `kind` an HTTP problem carries, what was
/// wrong, and the exit code it ends with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorView {
    /// `usage`, `config`, `refused`, `bundle`, `busy`, `conflict`, `forbidden`, `internal`.
    pub kind: String,
    pub message: String,
    pub exit_code: u8,
}
