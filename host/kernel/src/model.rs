//! Plain data the kernel stores and hands out. Domain-neutral: a bundle gives the words meaning.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The one timestamp of a tick: minted once (see [`crate::token`]) and threaded through every
/// write the tick makes; replay feeds the recorded token back in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickToken {
    pub run: u64,
    pub seq: u64,
    pub unix_ms: u64,
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored or typed name; `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// Who decides a gate.
    Decider { Human = "human", Agent = "agent", Rule = "rule" }
);

impl Decider {
    /// "a human", "an agent", "a rule": for messages.
    pub fn with_article(self) -> &'static str {
        match self {
            Decider::Human => "a human",
            Decider::Agent => "an agent",
            Decider::Rule => "a rule",
        }
    }
}
str_enum!(
    /// How much is at stake at a gate; the policy dial reads it.
    Risk { Low = "low", Medium = "medium", High = "high" }
);
str_enum!(GateStatus { Pending = "pending", Approved = "approved", Rejected = "rejected" });
str_enum!(TaskStatus { Open = "open", Done = "done", Failed = "failed", Abandoned = "abandoned" });
str_enum!(
    /// `running`: ticks advance; `waiting`: a human must decide a gate; `stopped`: a rule fired,
    /// a bundle faulted or an effect is uncertain, and a person must look before it goes on.
    RunStatus {
        Running = "running",
        Waiting = "waiting",
        Stopped = "stopped",
        Done = "done",
        Failed = "failed",
        Abandoned = "abandoned",
    }
);
str_enum!(
    /// A ledger row's state. `intent`: committed before the effect ran; no result yet.
    /// `refused`: the effect ran but a rule refused the state change it led to.
    LedgerStatus {
        Intent = "intent",
        Done = "done",
        Failed = "failed",
        Refused = "refused",
        Superseded = "superseded",
    }
);
str_enum!(
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

impl RunStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Done | RunStatus::Failed | RunStatus::Abandoned
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub title: String,
    pub status: TaskStatus,
    pub created_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: u64,
    pub task_id: u64,
    pub bundle_name: String,
    pub bundle_version: String,
    pub bundle_hash: String,
    pub status: RunStatus,
    pub phase: String,
    /// Bundle settings frozen at run start (JSON object), so replay sees what the run saw.
    pub settings: String,
    pub stop_reason: Option<String>,
    pub created_ms: u64,
    pub last_seq: u64,
    /// The engine's options for this run (JSON object); not visible to bundles.
    pub options: String,
}

/// A bundle-defined record; `value` is JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub kind: String,
    pub key: String,
    pub value: String,
    pub tick: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// The seq of the tick that opened it: unique within a run.
    pub id: u64,
    pub run_id: u64,
    pub name: String,
    pub status: GateStatus,
    pub decider: Decider,
    pub risk: Risk,
    pub summary: String,
    /// SHA-256 of exactly what the decider was shown.
    pub shown_hash: String,
    pub opened_tick: u64,
    pub decided_tick: Option<u64>,
    pub decided_by: Option<String>,
    pub transport: Option<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub key: String,
    pub attempt: u32,
    pub run_id: u64,
    pub seq: u64,
    pub step: String,
    pub kind: String,
    pub retry_safe: bool,
    pub status: LedgerStatus,
    pub request_hash: Option<String>,
    pub result_hash: Option<String>,
    pub summary: String,
    /// Effect metadata (JSON object): e.g. backend, model, tokens, cost, latency.
    pub meta: String,
    pub intent_ms: u64,
    pub result_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRow {
    pub run_id: u64,
    pub seq: u64,
    pub unix_ms: u64,
    pub kind: TickKind,
    pub step: Option<String>,
    pub decider: Option<String>,
    pub summary: String,
    /// JSON array of the writes the tick made, in order ([`Write`]).
    pub changes: String,
    pub prev_hash: String,
    pub hash: String,
}

impl TickRow {
    pub fn token(&self) -> TickToken {
        TickToken {
            run: self.run_id,
            seq: self.seq,
            unix_ms: self.unix_ms,
        }
    }
}

/// A broken rule: which, why, and references to the rows that broke it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub rule: String,
    pub message: String,
    pub rows: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRow {
    pub run_id: u64,
    pub seq: u64,
    pub unix_ms: u64,
    pub step: Option<String>,
    pub rule: String,
    pub message: String,
    pub rows: Vec<String>,
}

/// One write of a tick, in the canonical form that is hashed into the chain and compared on
/// replay. Field order is fixed by the struct definitions, so the JSON is deterministic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Write {
    RunStart {
        task: u64,
        title: String,
        bundle: String,
        version: String,
        bundle_hash: String,
        phase: String,
        settings: String,
    },
    Phase {
        from: String,
        to: String,
    },
    PutFact {
        kind: String,
        key: String,
        value: String,
    },
    DropFact {
        kind: String,
        key: String,
    },
    Note {
        text: String,
    },
    Result {
        key: String,
        attempt: u32,
        status: LedgerStatus,
        result_hash: Option<String>,
        summary: String,
    },
    GateOpen {
        id: u64,
        name: String,
        decider: Decider,
        risk: Risk,
        shown_hash: String,
    },
    GateDecide {
        id: u64,
        approved: bool,
        decider: Decider,
        by: String,
        transport: String,
        note: Option<String>,
        /// An approval with edits: the text the decider approved instead of what it was shown
        /// (the gate's `shown_hash`), and that text's SHA-256. Absent otherwise, and in every
        /// run recorded before edits existed, whose JSON (and so chain) is unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edited: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edited_hash: Option<String>,
    },
    RunStatus {
        status: RunStatus,
        reason: Option<String>,
        /// A stop's typed code with its data (JSON, opaque to the kernel), so each transport
        /// renders its own advice and a rewording never changes the record. Absent in runs
        /// recorded before codes existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    Violation {
        rule: String,
        message: String,
        rows: Vec<String>,
    },
    /// A try made inside an effect (one provider of a fallback chain, say), recorded under a
    /// key of its own in the tick of the effect's result.
    Call {
        key: String,
        step: String,
        kind: String,
        status: LedgerStatus,
        summary: String,
    },
    /// In a violation tick: the changes the rules refused, kept for the record (they were
    /// rolled back; nothing of them is in the state).
    Refused {
        changes: Vec<Write>,
    },
    /// The engine's options for the run changed (opaque JSON to the kernel), e.g. a raised
    /// budget taken on at a resume: recorded so a replay drives the run as it was driven.
    Options {
        /// What they were (so a replay can start the run with its first options).
        from: String,
        options: String,
    },
    /// In tick 1 of a fork, after its start: the run it was forked from, the last tick it
    /// shares with it (ticks 1..=`at` re-execute the parent's), that tick's hash in the
    /// parent's chain, and what the fork changes at its fork point. Recorded up front so a
    /// fork cut short by a crash is finished the same way.
    ForkOf {
        run: u64,
        at: u64,
        hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        settings: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// The run's bundle settings changed (a fork's, at its fork point).
    Settings {
        from: String,
        settings: String,
    },
    /// The task's wording changed (a fork's, at its fork point).
    Title {
        from: String,
        title: String,
    },
}
