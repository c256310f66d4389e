//! Checking a provider spec before anything is built from it or stored: the backend is known,
//! every option is known and well formed, and nothing in it looks like a secret.
//!
//! Specs are stored (in a run's options, in every agent call's request in `.loom/loom.db`) and
//! shown (in `loom providers check`, in errors), so a key in one would leak. Keys come from
//! environment variables only. The errors here never repeat an option's value, nor any text
//! that looks like a secret.

use crate::spec::Options;
use crate::{anthropic, claude_code, ollama, openrouter};

/// Backends a spec may name, with the shape of their argument, for error messages.
pub(crate) const KNOWN_BACKENDS: &[(&str, &str)] = &[
    ("scripted", "scripted:PATH_TO_SCRIPT.toml"),
    ("claude-code", "claude-code[:MODEL][?options]"),
    ("anthropic", "anthropic:MODEL[?options]"),
    ("openrouter", "openrouter:MODEL[?options]"),
    ("ollama", "ollama:MODEL[?options]"),
];

/// Why a provider spec was refused. A configuration error: nothing was built or stored, and a
/// person must change the spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Something in the spec looks like a key, token or password (`place` says which part).
    #[error(
        "{place} of the {} spec looks like a secret (an API key, token or password); keys never \
         go in a provider spec, which is stored in .loom/loom.db and shown in logs",
        .backend.as_deref().unwrap_or("provider")
    )]
    Secret {
        backend: Option<String>,
        place: String,
    },
    #[error("the provider spec has no ':' between backend and argument")]
    NoColon,
    #[error("unknown provider backend {backend:?}")]
    UnknownBackend { backend: String },
    #[error("unknown option {option:?} for backend {backend}")]
    UnknownOption {
        backend: String,
        option: String,
        /// The backend's options, comma-separated.
        known: String,
    },
    /// A malformed or repeated option, a value of the wrong kind, a missing argument.
    #[error("{backend}: {message}")]
    Invalid {
        backend: String,
        message: String,
        hint: String,
    },
}

impl SpecError {
    /// The backend the spec names, when it can be shown.
    pub fn backend(&self) -> Option<&str> {
        match self {
            SpecError::Secret { backend, .. } => backend.as_deref(),
            SpecError::NoColon => None,
            SpecError::UnknownBackend { backend }
            | SpecError::UnknownOption { backend, .. }
            | SpecError::Invalid { backend, .. } => Some(backend),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            SpecError::Secret { backend, .. } => key_hint(backend.as_deref()),
            SpecError::NoColon => format!("write BACKEND:ARGUMENT; known: {}", shapes()),
            SpecError::UnknownBackend { .. } => format!("known backends: {}", shapes()),
            SpecError::UnknownOption { known, .. } => format!("known options: {known}"),
            SpecError::Invalid { hint, .. } => hint.clone(),
        }
    }
}

impl From<SpecError> for crate::ProviderError {
    fn from(e: SpecError) -> Self {
        let message = match &e {
            // The provider's name leads a `ProviderError` already.
            SpecError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        crate::ProviderError::Config {
            provider: e.backend().unwrap_or("provider spec").to_owned(),
            message,
            hint: e.hint(),
        }
    }
}

fn shapes() -> String {
    KNOWN_BACKENDS
        .iter()
        .map(|(_, shape)| *shape)
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_hint(backend: Option<&str>) -> String {
    let var = match backend {
        Some(anthropic::NAME) => anthropic::KEY_VAR,
        Some(openrouter::NAME) => openrouter::KEY_VAR,
        Some(claude_code::NAME) => {
            return "remove it from the spec: the Claude Code CLI logs in by itself (`claude \
                    auth login`, or CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY in its \
                    environment)"
                .to_owned()
        }
        Some(ollama::NAME) => {
            return "remove it from the spec: Ollama needs no key (loom reads keys only from \
                    environment variables)"
                .to_owned()
        }
        _ => {
            return "remove it from the spec; keys come from environment variables only \
                    (?key_env=NAME names one)"
                .to_owned()
        }
    };
    format!(
        "remove it from the spec: the key comes from the environment variable {var}, or from \
         the one ?key_env=NAME names"
    )
}

/// Checks `spec` without building anything, reading the environment or touching the disk.
/// Call it before a spec is stored or shown; `from_spec` runs the same checks.
pub fn validate_spec(spec: &str) -> Result<(), SpecError> {
    let (backend, arg) = split(spec)?;
    match options_of(backend) {
        None => Ok(()),
        Some(allowed) => Options::parse(backend, arg, allowed)?.check_values(),
    }
}

/// The known backend a spec names and its argument, checked for secrets; a scripted spec's
/// argument (a path) is checked here too.
pub(crate) fn split(spec: &str) -> Result<(&'static str, &str), SpecError> {
    let spec = spec.trim();
    // The one backend whose argument is optional: plain "claude-code" uses the CLI's default
    // model, and "claude-code?max_turns=4" gives options without one.
    if spec == claude_code::NAME {
        return Ok((claude_code::NAME, ""));
    }
    if let Some(options) = spec
        .strip_prefix(claude_code::NAME)
        .filter(|rest| rest.starts_with('?'))
    {
        return Ok((claude_code::NAME, options));
    }
    let Some((name, arg)) = spec.split_once(':') else {
        return Err(if looks_secret(spec) {
            secret(None, "the text")
        } else {
            SpecError::NoColon
        });
    };
    let Some(&(backend, _)) = KNOWN_BACKENDS.iter().find(|(b, _)| *b == name) else {
        if looks_secret(name) || looks_secret(spec) {
            return Err(secret(None, "the text"));
        }
        return Err(SpecError::UnknownBackend {
            backend: shown(name),
        });
    };
    if backend == "scripted" {
        if arg.is_empty() {
            return Err(SpecError::Invalid {
                backend: backend.to_owned(),
                message: "the spec names no script file".to_owned(),
                hint: "write scripted:PATH_TO_SCRIPT.toml (relative to the project root)"
                    .to_owned(),
            });
        }
        if looks_secret(arg) {
            return Err(secret(Some(backend), "the script path"));
        }
    }
    Ok((backend, arg))
}

/// The options `backend` accepts; `None` for one that takes none (its argument is a path).
fn options_of(backend: &str) -> Option<&'static [&'static str]> {
    match backend {
        anthropic::NAME => Some(anthropic::OPTIONS),
        openrouter::NAME => Some(openrouter::OPTIONS),
        ollama::NAME => Some(ollama::OPTIONS),
        claude_code::NAME => Some(claude_code::OPTIONS),
        _ => None,
    }
}

pub(crate) fn secret(backend: Option<&str>, place: &str) -> SpecError {
    SpecError::Secret {
        backend: backend.map(str::to_owned),
        place: place.to_owned(),
    }
}

/// Text from a spec fit to repeat in a message: not secret-looking (checked before) and short.
pub(crate) fn shown(s: &str) -> String {
    const SHOWN_CHARS_MAX: usize = 64;
    if s.chars().count() > SHOWN_CHARS_MAX {
        "(too long to show)".to_owned()
    } else {
        s.to_owned()
    }
}

/// Whether an option's name says its value is a secret (`key_env` names a variable instead).
pub(crate) fn secret_name(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase().replace('-', "_");
    if n == "key_env" {
        return false;
    }
    const NAMES: &[&str] = &[
        "key",
        "apikey",
        "api_key",
        "x_api_key",
        "token",
        "access_token",
        "auth",
        "auth_token",
        "authorization",
        "bearer",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "pass",
        "pwd",
        "credential",
        "credentials",
    ];
    const ENDINGS: &[&str] = &["_key", "_token", "_secret", "_password", "_credentials"];
    NAMES.contains(&n.as_str()) || ENDINGS.iter().any(|e| n.ends_with(e))
}

/// Prefixes of keys and tokens issued by the providers loom talks to and their neighbours
/// (OpenAI-style `sk-…`, which Anthropic and OpenRouter keys also use; GitHub, GitLab, Slack,
/// Groq, xAI, Hugging Face, Replicate, Perplexity, NVIDIA, Google, AWS; JSON web tokens).
const KEY_PREFIXES: &[&str] = &[
    "sk-",
    "sk_",
    "rk_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "gsk_",
    "xai-",
    "hf_",
    "r8_",
    "pplx-",
    "nvapi-",
    "AIza",
    "AKIA",
    "ASIA",
    "eyJ",
];

/// Whether `value` looks like a key, a token or a password: a known key prefix, a URL with
/// credentials in it, or a long random-looking token. Model ids and paths do not match (they
/// are lower case, or hold `/`, `.` or `:`).
pub(crate) fn looks_secret(value: &str) -> bool {
    const TOKEN_CHARS_MIN: usize = 32;
    let v = value.trim();
    let v = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v);
    if KEY_PREFIXES
        .iter()
        .any(|p| v.starts_with(p) && v.len() >= p.len() + 8)
    {
        return true;
    }
    if let Some((_, rest)) = v.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return true;
        }
    }
    v.len() >= TOKEN_CHARS_MIN
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| c.is_ascii_uppercase())
        && v.chars().any(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
