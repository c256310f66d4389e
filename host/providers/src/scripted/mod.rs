//! The scripted provider: answers from a TOML file of canned replies, offline and
//! deterministically. It is the default for the demo and for every test above this crate.
//!
//! The rest of this page is `SCRIPTED.md` from the crate root, the user-facing description of
//! the file format.
#![doc = ""]
#![doc = include_str!("../../SCRIPTED.md")]

mod script;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::{Progress, Provider, ProviderError, Request, Response, Usage};
use script::{ReplyError, Script};

/// The provider's name, also its default model name.
pub const NAME: &str = "scripted";
/// Overrides the script's `log` key, so a test harness can collect calls without editing the
/// script.
pub const LOG_ENV: &str = "LOOM_SCRIPTED_LOG";

/// Parses a script's text as the provider would, for the parser's fuzz test.
#[cfg(test)]
pub(crate) fn parse_script(path: &Path, text: &str) -> Result<(), ProviderError> {
    Script::parse(path, text).map(|_| ())
}

/// A provider answering from a script file; see the module docs.
#[derive(Debug)]
pub struct ScriptedProvider {
    script: Script,
    log: Option<PathBuf>,
    /// Serialises appends from concurrent calls within this process, so lines never interleave.
    log_lock: Mutex<()>,
}

/// One line of the call log.
#[derive(Serialize)]
struct LogLine<'a> {
    role: &'a str,
    turn: u32,
    effect_key: &'a str,
    reply_index: usize,
}

impl ScriptedProvider {
    /// Loads and validates the script at `path`. The call log is the script's `log` key
    /// (relative to the script's directory), or `$LOOM_SCRIPTED_LOG` if set and non-empty.
    pub fn load(path: &Path) -> Result<ScriptedProvider, ProviderError> {
        Self::load_with_env_log(path, std::env::var_os(LOG_ENV))
    }

    /// `load` with the environment passed in, so tests need not mutate the process environment.
    fn load_with_env_log(
        path: &Path,
        env_log: Option<OsString>,
    ) -> Result<ScriptedProvider, ProviderError> {
        let script = Script::load(path)?;
        let log = match env_log.filter(|v| !v.is_empty()) {
            Some(log) => Some(PathBuf::from(log)),
            None => script.log.clone(),
        };
        Ok(ScriptedProvider {
            script,
            log,
            log_lock: Mutex::new(()),
        })
    }

    /// Replaces the call log path (`None` disables logging).
    pub fn with_log(mut self, log: Option<PathBuf>) -> ScriptedProvider {
        self.log = log;
        self
    }

    pub fn script_path(&self) -> &Path {
        &self.script.path
    }

    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Appends one JSON line and fsyncs it: tests kill the process right after a call and then
    /// count lines, so a line that was reported must be on disk.
    fn append_log(&self, req: &Request, reply_index: usize) -> Result<(), ProviderError> {
        let Some(path) = &self.log else { return Ok(()) };
        let line = LogLine {
            role: &req.role,
            turn: req.turn,
            effect_key: &req.effect_key,
            reply_index,
        };
        let fail = |what: &str, e: &dyn std::fmt::Display| ProviderError::Config {
            provider: NAME.to_string(),
            message: format!("cannot {what} call log {}: {e}", path.display()),
            hint: format!(
                "check the `log` key in {} or ${LOG_ENV}; the log's directory must exist",
                self.script.path.display()
            ),
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| fail("encode a line for", &e))?;
        bytes.push(b'\n');
        // A poisoned lock only means another call panicked mid-append; the file is still usable.
        let _guard = self
            .log_lock
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| fail("open", &e))?;
        // One write of the whole line: with O_APPEND, other processes' lines cannot land inside it.
        file.write_all(&bytes).map_err(|e| fail("append to", &e))?;
        file.flush().map_err(|e| fail("flush", &e))?;
        file.sync_all().map_err(|e| fail("fsync", &e))
    }
}

impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        NAME
    }

    /// Canned replies cost nothing, or what the script says they cost.
    fn reports_cost(&self) -> bool {
        true
    }

    /// The file was read and checked when the provider was built; say what it holds.
    fn check(&self) -> Result<String, ProviderError> {
        let mut roles: Vec<&str> = self
            .script
            .replies
            .iter()
            .map(|r| r.role.as_str())
            .collect();
        roles.sort_unstable();
        roles.dedup();
        Ok(format!(
            "{} canned replies in {} for role(s) {}",
            self.script.replies.len(),
            self.script.path.display(),
            roles.join(", ")
        ))
    }

    fn complete(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError> {
        let (index, reply) =
            self.script
                .select(&req.role, req.turn)
                .map_err(|none| ProviderError::Permanent {
                    provider: NAME.to_string(),
                    message: format!(
                        "script {} has no reply for role {} turn {} (it has {} for {}); \
                     add a [[reply]] with role = \"{}\"",
                        self.script.path.display(),
                        req.role,
                        req.turn,
                        none.replies_for_role,
                        req.role,
                        req.role
                    ),
                })?;
        let model = reply.model.clone().unwrap_or_else(|| NAME.to_string());
        progress(Progress::Started {
            provider: NAME.to_string(),
            model: model.clone(),
        });

        let delay = Duration::from_millis(reply.delay_ms);
        if delay > req.timeout {
            // Behave like a real backend that hangs: wait out the timeout, then give up.
            std::thread::sleep(req.timeout);
            return Err(ProviderError::Transient {
                provider: NAME.to_string(),
                message: format!(
                    "timed out after {} ms ([[reply]] #{index} delays {} ms)",
                    req.timeout.as_millis(),
                    reply.delay_ms
                ),
                retry_after: None,
            });
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }

        if let Some(kind) = reply.error {
            let (provider, message) = (NAME.to_string(), reply.text.clone());
            return Err(match kind {
                ReplyError::Transient => ProviderError::Transient {
                    provider,
                    message,
                    retry_after: reply.retry_after_ms.map(Duration::from_millis),
                },
                ReplyError::Permanent => ProviderError::Permanent { provider, message },
                ReplyError::Config => ProviderError::Config {
                    provider,
                    message,
                    hint: format!(
                        "[[reply]] #{index} of {} asks for this error",
                        self.script.path.display()
                    ),
                },
            });
        }

        let usage = Usage {
            input_tokens: reply.input_tokens.unwrap_or_else(|| input_words(req)),
            output_tokens: reply.output_tokens.unwrap_or_else(|| words(&reply.text)),
        };
        progress(Progress::Tokens {
            output_tokens: usage.output_tokens,
        });
        self.append_log(req, index)?;
        Ok(Response {
            text: reply.text.clone(),
            provider: NAME.to_string(),
            model,
            usage,
            cost_usd: reply.cost_usd,
            stop_reason: Some(
                reply
                    .stop_reason
                    .clone()
                    .unwrap_or_else(|| "end_turn".to_string()),
            ),
        })
    }
}

/// A rough token count: whitespace-separated words. Good enough for budgets in tests, and
/// stable, which a real tokenizer's counts would not be across versions.
fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn input_words(req: &Request) -> u64 {
    let system = req.system.as_deref().map_or(0, words);
    req.messages.iter().map(|m| words(&m.content)).sum::<u64>() + system
}
