//! Who asks for a command, and through which transport. The *kind* of actor, never the
//! transport's name, decides what may be decided: an MCP session is an agent, a person at the
//! CLI or on the dashboard is a human.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Human,
    Agent,
    Rule,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Human => "human",
            Actor::Agent => "agent",
            Actor::Rule => "rule",
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed origin every command carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub actor: Actor,
    /// A name: a person's user name, an agent's client name.
    pub who: String,
    /// `cli`, `http`, `web`, `mcp`, `telegram`, …
    pub transport: String,
}

impl Origin {
    pub fn human(who: impl Into<String>, transport: impl Into<String>) -> Origin {
        Origin {
            actor: Actor::Human,
            who: who.into(),
            transport: transport.into(),
        }
    }

    pub fn agent(who: impl Into<String>, transport: impl Into<String>) -> Origin {
        Origin {
            actor: Actor::Agent,
            who: who.into(),
            transport: transport.into(),
        }
    }
}

/// A decision on a gate, as a transport hands it in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    /// The gate's name or id.
    pub gate: String,
    pub approved: bool,
    /// A note with an approval; the reason with a rejection (required then).
    pub note: Option<String>,
    pub origin: Origin,
    /// The hash (or a prefix of at least 8 hex digits) of what the decider was shown. A
    /// decision whose hash no longer matches the gate is refused: the gate reopened with other
    /// content. `None` binds to what the gate shows now (the CLI prints it as it decides).
    pub shown_hash: Option<String>,
    /// A human takes over a gate an agent was to decide (recorded as a human decision).
    pub take_over: bool,
    /// An approval with edits: the text a person approves instead of what the gate shows.
    /// Only a gate its bundle marks editable takes one, and only from a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<String>,
}

/// Shortest prefix of a shown-hash accepted as naming it.
pub const SHOWN_HASH_PREFIX_MIN: usize = 8;

impl Decision {
    pub fn new(gate: &str, approved: bool, note: Option<&str>, origin: Origin) -> Decision {
        Decision {
            gate: gate.to_owned(),
            approved,
            note: note.map(str::to_owned),
            origin,
            shown_hash: None,
            take_over: false,
            edited: None,
        }
    }

    /// This approval, with `text` approved instead of what the gate shows.
    pub fn edited(mut self, text: impl Into<String>) -> Decision {
        self.edited = Some(text.into());
        self
    }
}
