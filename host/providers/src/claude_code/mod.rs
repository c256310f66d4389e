//! `claude-code[:MODEL]`: runs the Claude Code CLI non-interactively
//! (`claude -p … --output-format json`) in the request's working directory, so the agent can
//! read (and, for an editing step, change) the project itself. Output format and failure
//! shapes: shared/protocols/04-claude-code-cli.md.

mod process;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::http::excerpt;
use crate::spec::{self, Env, Options};
use crate::{MessageRole, Progress, Provider, ProviderError, Request, Response, Usage};
use process::RunError;

pub const NAME: &str = "claude-code";
/// The binary to run instead of `claude` on the PATH.
pub const BIN_VAR: &str = "LOOM_CLAUDE_BIN";
pub const DEFAULT_BIN: &str = "claude";
/// Agent turns (model calls) one request may take unless the spec's `max_turns` says otherwise.
pub const DEFAULT_MAX_TURNS: u32 = 10;
/// Built-in tools for a step that only reads the project.
pub const READ_TOOLS: &str = "Read,Glob,Grep";
/// Built-in tools for a step that edits the tree (`Request::edits_tree`). No Bash: loom runs the
/// project's checks itself, inside its transaction.
pub const EDIT_TOOLS: &str = "Read,Glob,Grep,Edit,Write";
/// Prompts longer than this go on stdin: Linux limits one argument to 128 KiB.
const ARG_BYTES_MAX: usize = 100 * 1024;
pub(crate) const OPTIONS: &[&str] = &["max_turns", "tools", "timeout_ms"];
const AUTH_HINT: &str = "log in with `claude auth login` (headless: `claude setup-token`, then \
export CLAUDE_CODE_OAUTH_TOKEN), or export ANTHROPIC_API_KEY; `claude auth status` checks it";

/// A provider running the Claude Code CLI.
#[derive(Debug)]
pub struct ClaudeCodeProvider {
    /// Empty: the CLI's own default model (or the request's).
    model: String,
    bin: PathBuf,
    max_turns: u32,
    /// Overrides [`READ_TOOLS`] / [`EDIT_TOOLS`].
    tools: Option<String>,
    timeout_cap: Option<Duration>,
}

impl ClaudeCodeProvider {
    /// Whether the CLI is logged in, asked without a billed call (`claude auth status --json`):
    /// `--version` alone says ok for a CLI that would fail every call with "Not logged in".
    /// A CLI too old to answer is reported as not checked, not as a failure.
    fn login(&self, timeout: Duration) -> Result<String, ProviderError> {
        let args = ["auth", "status", "--json"].map(std::ffi::OsString::from);
        let output = process::run(&self.bin, &args, None, &std::env::temp_dir(), timeout)
            .map_err(|e| self.run_error(e, timeout))?;
        let status: Option<serde_json::Value> = serde_json::from_slice(&output.stdout).ok();
        match status
            .as_ref()
            .and_then(|v| v.get("loggedIn"))
            .and_then(|v| v.as_bool())
        {
            Some(true) => {
                let method = status
                    .as_ref()
                    .and_then(|v| v["authMethod"].as_str())
                    .unwrap_or("?")
                    .to_owned();
                Ok(format!(", logged in ({method})"))
            }
            Some(false) => Err(spec::config(
                NAME,
                "the Claude Code CLI is not logged in, so every call would fail".into(),
                "run `claude auth login` (a Claude subscription), or give it an API key in \
                 ANTHROPIC_API_KEY"
                    .into(),
            )),
            None => Ok(format!(
                ", login not checked (`claude auth status --json` gave no answer: {})",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }

    pub(crate) fn from_spec(arg: &str, env: Env<'_>) -> Result<ClaudeCodeProvider, ProviderError> {
        let options = Options::parse(NAME, arg, OPTIONS)?;
        let max_turns = options.positive("max_turns")?.unwrap_or(DEFAULT_MAX_TURNS);
        Ok(ClaudeCodeProvider {
            bin: env(BIN_VAR)
                .filter(|b| !b.trim().is_empty())
                .map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from),
            max_turns,
            tools: options.get("tools").map(str::to_string),
            timeout_cap: options.timeout_cap()?,
            model: options.model,
        })
    }

    /// The CLI arguments, and the prompt if it must go on stdin.
    fn args(&self, req: &Request, model: Option<&str>) -> (Vec<OsString>, Option<String>) {
        let mut args: Vec<OsString> = ["-p", "--output-format", "json", "--max-turns"]
            .map(OsString::from)
            .to_vec();
        args.push(self.max_turns.to_string().into());
        if let Some(model) = model {
            args.extend(["--model".into(), model.into()]);
        }
        if let Some(system) = &req.system {
            // Appended, not replacing: Claude Code's own prompt is what makes its tools work.
            args.extend(["--append-system-prompt".into(), system.into()]);
        }
        let default_tools = if req.edits_tree {
            EDIT_TOOLS
        } else {
            READ_TOOLS
        };
        let tools = self.tools.as_deref().unwrap_or(default_tools);
        args.extend(["--tools".into(), tools.into()]);
        if req.edits_tree {
            // -p cannot ask a person; pre-approve exactly the tools offered, edits included.
            args.extend([
                "--permission-mode".into(),
                "acceptEdits".into(),
                "--allowedTools".into(),
                tools.into(),
            ]);
        }
        let prompt = prompt(req);
        if prompt.len() > ARG_BYTES_MAX {
            (args, Some(prompt))
        } else {
            // After `--`, so a prompt starting with '-' is not taken for an option.
            args.extend(["--".into(), prompt.into()]);
            (args, None)
        }
    }
}

/// One prompt from the conversation: the last message as it is, earlier turns above it, labelled.
fn prompt(req: &Request) -> String {
    let Some((last, earlier)) = req.messages.split_last() else {
        return String::new();
    };
    if earlier.is_empty() {
        return last.content.clone();
    }
    let mut text = String::from("The conversation so far:\n\n");
    for m in earlier {
        let who = match m.role {
            MessageRole::User => "User",
            MessageRole::Assistant => "Assistant",
        };
        text.push_str(&format!("## {who}\n\n{}\n\n", m.content));
    }
    text.push_str(&format!("## User (answer this)\n\n{}", last.content));
    text
}

/// The result object `--output-format json` prints; every field but the flags is optional
/// (04-claude-code-cli.md: "parse leniently").
#[derive(Deserialize)]
struct CliResult {
    #[serde(default)]
    subtype: String,
    #[serde(default)]
    is_error: bool,
    result: Option<String>,
    api_error_status: Option<u64>,
    /// The CLI's own word for an API call that got no HTTP answer (`connection_failed`).
    api_error: Option<String>,
    total_cost_usd: Option<f64>,
    #[serde(default)]
    usage: Value,
    session_id: Option<String>,
    stop_reason: Option<String>,
    #[serde(default)]
    errors: Vec<Value>,
    #[serde(default, rename = "modelUsage")]
    model_usage: serde_json::Map<String, Value>,
}

impl CliResult {
    /// Stdout is one JSON object; if anything was printed around it, the last line is tried.
    fn parse(stdout: &str) -> Option<CliResult> {
        serde_json::from_str(stdout.trim()).ok().or_else(|| {
            let last = stdout.lines().rev().find(|l| !l.trim().is_empty())?;
            serde_json::from_str(last).ok()
        })
    }

    fn usage(&self) -> Usage {
        let n = |k: &str| self.usage.get(k).and_then(Value::as_u64).unwrap_or(0);
        Usage {
            // Every prompt token, cached or not, as for the anthropic backend.
            input_tokens: n("input_tokens")
                + n("cache_creation_input_tokens")
                + n("cache_read_input_tokens"),
            output_tokens: n("output_tokens"),
        }
    }

    /// The model that did most of the work (sub-agents may use others).
    fn model(&self) -> Option<String> {
        let out = |v: &Value| v.get("outputTokens").and_then(Value::as_u64).unwrap_or(0);
        self.model_usage
            .iter()
            .max_by_key(|(_, v)| out(v))
            .map(|(k, _)| k.clone())
    }

    fn message(&self) -> String {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect();
        match (&self.result, errors.is_empty()) {
            (Some(r), _) if !r.is_empty() => r.clone(),
            (_, false) => errors.join("; "),
            _ => format!("failed ({})", self.subtype),
        }
    }

    /// Classifies a failed result (04-claude-code-cli.md, "Failure shapes").
    fn error(&self) -> ProviderError {
        let message = self.message();
        let transient = |message| ProviderError::Transient {
            provider: NAME.to_string(),
            message,
            retry_after: None,
        };
        let permanent = |message| ProviderError::Permanent {
            provider: NAME.to_string(),
            message,
        };
        let auth = |message| spec::config(NAME, message, AUTH_HINT.to_string());
        match self.api_error_status {
            Some(401 | 403) => return auth(message),
            Some(408 | 409 | 429 | 500..=599) => return transient(message),
            Some(status) => return permanent(format!("API error {status}: {message}")),
            None => {}
        }
        // No answer from the API at all (refused, reset, timed out): transient, as for the
        // HTTP backends, so the chain retries and then falls back instead of stopping.
        if self.api_error.is_some() {
            return transient(message);
        }
        if message.contains("Not logged in") || message.contains("Invalid API key") {
            return auth(message);
        }
        if self.subtype != "success" && !self.subtype.is_empty() {
            let hint = if self.subtype == "error_max_turns" {
                "; raise the spec's max_turns option if the step needs more"
            } else {
                ""
            };
            return permanent(format!("stopped with {}: {message}{hint}", self.subtype));
        }
        permanent(message)
    }
}

impl Provider for ClaudeCodeProvider {
    fn reports_cost(&self) -> bool {
        true
    }

    fn model(&self) -> Option<&str> {
        Some(self.model.as_str()).filter(|m| !m.is_empty())
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Runs `claude --version`: the CLI is there and starts. Whether it is logged in shows at
    /// the first call (a probe of that would be a billed call).
    fn check(&self) -> Result<String, ProviderError> {
        let timeout = Duration::from_secs(30);
        let args = [std::ffi::OsString::from("--version")];
        let output = process::run(&self.bin, &args, None, &std::env::temp_dir(), timeout)
            .map_err(|e| self.run_error(e, timeout))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !output.status.success() || version.is_empty() {
            return Err(spec::config(
                NAME,
                format!(
                    "`{} --version` failed: {}",
                    self.bin.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                format!("reinstall the Claude Code CLI or set {BIN_VAR} to a working binary"),
            ));
        }
        Ok(format!(
            "`{}` {version}{}",
            self.bin.display(),
            self.login(timeout)?
        ))
    }

    fn preflight(&self) -> Result<(), ProviderError> {
        if found(&self.bin) {
            return Ok(());
        }
        Err(self.run_error(
            RunError::Spawn(std::io::ErrorKind::NotFound.into()),
            Duration::ZERO,
        ))
    }

    fn complete(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError> {
        let requested = Some(self.model.as_str())
            .filter(|m| !m.is_empty())
            .or(req.model.as_deref());
        if !req.workdir.is_dir() {
            // Checked first: a missing working directory would look like a missing binary.
            return Err(ProviderError::Permanent {
                provider: NAME.to_string(),
                message: format!("working directory {} does not exist", req.workdir.display()),
            });
        }
        let timeout = self.timeout_cap.map_or(req.timeout, |c| c.min(req.timeout));
        let (args, stdin) = self.args(req, requested);
        progress(Progress::Started {
            provider: NAME.to_string(),
            model: requested.unwrap_or("default").to_string(),
        });
        let output = process::run(&self.bin, &args, stdin, &req.workdir, timeout)
            .map_err(|e| self.run_error(e, timeout))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(result) = CliResult::parse(&stdout) else {
            return Err(self.no_result(&output, &stdout));
        };
        if let Some(id) = &result.session_id {
            // Not part of the Response; a person can inspect the run with `claude -r ID`.
            progress(Progress::Note(format!("claude-code session {id}")));
        }
        if !output.status.success() || result.is_error || result.subtype != "success" {
            return Err(result.error());
        }
        let usage = result.usage();
        progress(Progress::Tokens {
            output_tokens: usage.output_tokens,
        });
        Ok(Response {
            text: result.result.clone().unwrap_or_default(),
            provider: NAME.to_string(),
            model: result
                .model()
                .or_else(|| requested.map(str::to_string))
                .unwrap_or_else(|| "default".to_string()),
            usage,
            cost_usd: result.total_cost_usd,
            stop_reason: result.stop_reason,
        })
    }
}

impl ClaudeCodeProvider {
    fn run_error(&self, e: RunError, timeout: Duration) -> ProviderError {
        let bin = self.bin.display();
        match e {
            RunError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => spec::config(
                NAME,
                format!("the Claude Code CLI `{bin}` was not found"),
                format!(
                    "install it (`npm install -g @anthropic-ai/claude-code`) or set {BIN_VAR} \
                     to the binary's path"
                ),
            ),
            RunError::Spawn(e) if e.kind() == std::io::ErrorKind::PermissionDenied => spec::config(
                NAME,
                format!("cannot run `{bin}`: {e}"),
                format!("make it executable, or point {BIN_VAR} at the real binary"),
            ),
            RunError::Spawn(e) | RunError::Wait(e) => ProviderError::Transient {
                provider: NAME.to_string(),
                message: format!("cannot run `{bin}`: {e}"),
                retry_after: None,
            },
            RunError::TimedOut => ProviderError::Transient {
                provider: NAME.to_string(),
                message: format!(
                    "timed out after {} ms; killed `{bin}` and its process group",
                    timeout.as_millis()
                ),
                retry_after: None,
            },
        }
    }

    /// Stdout held no result object: say what the process did instead.
    fn no_result(&self, output: &process::Output, stdout: &str) -> ProviderError {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = if stderr.trim().is_empty() {
            stdout
        } else {
            &stderr
        };
        if said.contains("Not logged in") || said.contains("/login") {
            return spec::config(NAME, excerpt(said), AUTH_HINT.to_string());
        }
        let message = match output.status.code() {
            Some(code) => format!(
                "`{}` exited with {code} without a JSON result: {:?}",
                self.bin.display(),
                excerpt(said)
            ),
            None => format!(
                "`{}` was killed by a signal: {:?}",
                self.bin.display(),
                excerpt(said)
            ),
        };
        ProviderError::Permanent {
            provider: NAME.to_string(),
            message,
        }
    }
}

/// Whether `bin` names an executable file, as a path or through `PATH`, as spawning it would
/// find it.
fn found(bin: &Path) -> bool {
    let is_exe = |p: &Path| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            p.is_file()
        }
    };
    if bin.components().count() > 1 {
        return is_exe(bin);
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_exe(&dir.join(bin))))
}
