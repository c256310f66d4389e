//! The scripted provider's TOML file: parsing, validation and reply selection.
//! The format is documented for users in `SCRIPTED.md` at the crate root.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ProviderError;

/// Scripts are hand-written; anything larger is a mistake (a log or binary passed by accident),
/// and reading it whole would be unbounded.
pub(crate) const SCRIPT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// A delay is for letting tests kill the process mid-call; an hour is far beyond any such test
/// and keeps a typo (an extra zero or three) from hanging a run for days.
pub(crate) const DELAY_MS_MAX: u64 = 60 * 60 * 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    log: Option<PathBuf>,
    #[serde(default)]
    reply: Vec<Reply>,
}

/// One `[[reply]]` table. Unknown keys are rejected so a typo (`output_token = 5`) is an error,
/// not a silently ignored setting.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reply {
    pub role: String,
    pub text: String,
    pub turn: Option<u32>,
    #[serde(default)]
    pub delay_ms: u64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub model: Option<String>,
    pub stop_reason: Option<String>,
    pub error: Option<ReplyError>,
    /// Only with `error = "transient"`: the `retry_after` the error carries.
    pub retry_after_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReplyError {
    Transient,
    Permanent,
    Config,
}

/// A parsed and validated script.
#[derive(Debug)]
pub(crate) struct Script {
    pub path: PathBuf,
    /// The `log` key resolved against the script's directory.
    pub log: Option<PathBuf>,
    pub replies: Vec<Reply>,
}

/// Why no reply matched: how many replies the role has in total, for the error message.
pub(crate) struct NoReply {
    pub replies_for_role: usize,
}

impl Script {
    pub fn load(path: &Path) -> Result<Script, ProviderError> {
        let text = read_bounded(path).map_err(|problem| config_error(path, &problem))?;
        Script::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Script, ProviderError> {
        let file: ScriptFile =
            toml::from_str(text).map_err(|e| config_error(path, &format!("invalid TOML: {e}")))?;
        validate(&file.reply).map_err(|problem| config_error(path, &problem))?;
        // `parent` of a bare file name is "", which joins to a path relative to the current
        // directory: the same directory the bare script path itself was relative to.
        let dir = path.parent().unwrap_or(Path::new(""));
        Ok(Script {
            path: path.to_path_buf(),
            log: file.log.map(|log| dir.join(log)),
            replies: file.reply,
        })
    }

    /// The reply for (role, turn) and its index in the file: the reply with an explicit
    /// `turn = t` for the role if there is one, else the t-th (0-based) of the role's replies
    /// without an explicit turn. Position-based, not "next unused", so the answer depends only
    /// on the request and a resumed run gets the same replies as an uninterrupted one.
    pub fn select(&self, role: &str, turn: u32) -> Result<(usize, &Reply), NoReply> {
        let of_role = || {
            self.replies
                .iter()
                .enumerate()
                .filter(move |(_, r)| r.role == role)
        };
        if let Some(found) = of_role().find(|(_, r)| r.turn == Some(turn)) {
            return Ok(found);
        }
        let nth = usize::try_from(turn).unwrap_or(usize::MAX);
        of_role()
            .filter(|(_, r)| r.turn.is_none())
            .nth(nth)
            .ok_or_else(|| NoReply {
                replies_for_role: of_role().count(),
            })
    }
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut bytes = Vec::new();
    file.take(SCRIPT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > SCRIPT_BYTES_MAX {
        return Err(format!(
            "larger than {SCRIPT_BYTES_MAX} bytes; is this really a script?"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

/// Checks what TOML types cannot: each problem names the reply by its index in the file.
fn validate(replies: &[Reply]) -> Result<(), String> {
    let mut explicit: HashMap<(&str, u32), usize> = HashMap::new();
    for (index, reply) in replies.iter().enumerate() {
        let at = format!("[[reply]] #{index} (role {:?})", reply.role);
        if reply.role.trim().is_empty() {
            return Err(format!("[[reply]] #{index} has an empty role"));
        }
        if reply.delay_ms > DELAY_MS_MAX {
            return Err(format!(
                "{at}: delay_ms {} exceeds the limit {DELAY_MS_MAX}",
                reply.delay_ms
            ));
        }
        if let Some(cost) = reply.cost_usd {
            if !cost.is_finite() || cost < 0.0 {
                return Err(format!(
                    "{at}: cost_usd must be a non-negative number, not {cost}"
                ));
            }
        }
        if reply.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(format!(
                "{at}: model is empty; leave it out to use \"scripted\""
            ));
        }
        if reply.retry_after_ms.is_some() && reply.error != Some(ReplyError::Transient) {
            return Err(format!("{at}: retry_after_ms needs error = \"transient\""));
        }
        if let Some(turn) = reply.turn {
            // Two answers for one turn would make selection depend on file order in a way
            // nobody intends; refuse instead of guessing.
            if let Some(first) = explicit.insert((reply.role.as_str(), turn), index) {
                return Err(format!(
                    "{at}: turn {turn} is already answered by [[reply]] #{first}"
                ));
            }
        }
    }
    Ok(())
}

fn config_error(path: &Path, problem: &str) -> ProviderError {
    ProviderError::Config {
        provider: super::NAME.to_string(),
        message: format!("script {}: {problem}", path.display()),
        // Said here in full: a person with an installed `loom` has no source tree to look in.
        hint: "fix the script file: it holds [[reply]] tables, each with role = \"ROLE\" and \
               text = \"…\" (optionally turn, model, input_tokens, output_tokens, cost_usd, \
               delay_ms, or error = \"transient\"|\"permanent\"|\"config\" instead of an answer)"
            .to_string(),
    }
}
