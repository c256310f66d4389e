//! The data that crosses the provider boundary. Requests and responses are stored as JSON in
//! the ledger, so every type here is serde-(de)serialisable and compares by value.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who said a message in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
}

/// One turn of a conversation sent to a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: MessageRole,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: MessageRole::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message {
            role: MessageRole::Assistant,
            content: content.into(),
        }
    }
}

/// One LLM call, as the engine asks for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The agent role asking (e.g. "reviewer").
    pub role: String,
    /// How many earlier completed calls this role made in this run (0-based). The engine derives
    /// it from committed ledger rows, so it is the same after a crash; providers that answer by
    /// position (the scripted one) therefore answer the same way on resume.
    pub turn: u32,
    /// The ledger idempotency key plus attempt, e.g. "r1.t7.review#1"; for logs and correlation.
    pub effect_key: String,
    pub model: Option<String>,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    /// Project root; agentic providers run there.
    pub workdir: PathBuf,
    /// Whether the provider may edit files in `workdir` itself.
    pub edits_tree: bool,
    /// Stored as whole milliseconds (`timeout_ms`) so the JSON carries its unit in the name.
    #[serde(rename = "timeout_ms", with = "duration_ms")]
    pub timeout: Duration,
}

/// Token counts of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A provider's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub text: String,
    /// The provider's [`crate::Provider::name`], e.g. "scripted".
    pub provider: String,
    /// The model that actually answered (may differ from the one requested).
    pub model: String,
    pub usage: Usage,
    /// `None` when the provider cannot tell (e.g. a local model); not the same as free.
    pub cost_usd: Option<f64>,
    pub stop_reason: Option<String>,
}

/// Progress reported while a call runs, for transports to show; never stored as a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    Started { provider: String, model: String },
    Tokens { output_tokens: u64 },
    Note(String),
}

/// Serialises a [`Duration`] as whole milliseconds. Sub-millisecond parts are dropped: no
/// provider timeout is that precise, and an integer keeps the ledger JSON readable.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        // Saturate rather than fail: u64 milliseconds is 584 million years.
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
