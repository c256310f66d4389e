//! LLM providers for loom behind one trait.
//!
//! A [`Provider`] turns one [`Request`] into one [`Response`] or a classified
//! [`ProviderError`]; a [`Chain`] adds retries and fallbacks and reports every [`Attempt`] so the
//! engine can ledger each of them. Providers are built from spec strings with [`from_spec`].
//!
//! Backends: `scripted` (offline, SCRIPTED.md), `claude-code` (the Claude Code CLI, the default),
//! `anthropic`, `openrouter` and `ollama` (HTTP, blocking). PROVIDERS.md in the crate root gives
//! each one's spec syntax, environment variables and error mapping.
//!
//! This crate knows nothing of bundles, storage or wasm: the engine decides what to ask and
//! records what came back.

pub mod anthropic;
mod chain;
#[cfg(test)]
mod classes_tests;
pub mod claude_code;
mod error;
#[cfg(test)]
mod fuzz_tests;
mod http;
pub mod ollama;
pub mod openrouter;
pub mod scripted;
mod spec;
#[cfg(test)]
mod testserver;
mod types;
mod validate;

use std::path::Path;

pub use anthropic::AnthropicProvider;
pub use chain::{
    Attempt, AttemptOutcome, Chain, Sleeper, BACKOFF_BASE, MAX_RETRIES_LIMIT, SLEEP_CAP,
};
pub use claude_code::ClaudeCodeProvider;
pub use error::ProviderError;
pub use ollama::OllamaProvider;
pub use openrouter::OpenRouterProvider;
pub use scripted::ScriptedProvider;
pub use types::{Message, MessageRole, Progress, Request, Response, Usage};
pub use validate::{validate_spec, SpecError};

/// A backend that answers LLM requests.
///
/// Implementations block until the call is done (or `req.timeout` passes) and report progress
/// through the callback as they go. They must classify failures honestly: `Transient` only when
/// the same request may succeed if repeated, because the chain will repeat it.
pub trait Provider: Send + Sync {
    /// The backend's name, e.g. "scripted"; stored with every attempt and response.
    fn name(&self) -> &str;

    fn complete(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError>;

    /// Whether the backend can be reached and is set up, without a billed call (`loom
    /// providers check`). The text says what was found.
    fn check(&self) -> Result<String, ProviderError> {
        Ok("set up; not probed (a probe would be a billed call)".into())
    }

    /// What can be known of the backend before a task opens, quickly and without the network
    /// or a billed call: that a local program it runs exists, say. Building the provider has
    /// already checked its spec and its key.
    fn preflight(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Whether every answer says what it cost (the backend reports a figure, or costs
    /// nothing). When it does not, a dollar budget can only count the call at a price the
    /// config gives for its model.
    fn reports_cost(&self) -> bool {
        false
    }

    /// The model the spec names, if it names one (prices are configured by model).
    fn model(&self) -> Option<&str> {
        None
    }
}

/// Parses a provider spec like "scripted:PATH" (PATH relative to `base_dir`) or
/// "anthropic:claude-sonnet-4-5?stream=true"; PROVIDERS.md lists every backend and its options.
///
/// Keys and default base URLs come from the process environment. The spec is first checked
/// with [`validate_spec`] (known backend and options, no secrets); its errors become `Config`
/// errors. The spec is split at its first `:` only, so the
/// argument may itself contain colons (Windows paths, model tags, URLs in options).
pub fn from_spec(spec: &str, base_dir: &Path) -> Result<Box<dyn Provider>, ProviderError> {
    from_spec_with_env(spec, base_dir, &|var| std::env::var(var).ok())
}

/// [`from_spec`] with the environment passed in, so tests never mutate the process's own.
fn from_spec_with_env(
    spec: &str,
    base_dir: &Path,
    env: spec::Env<'_>,
) -> Result<Box<dyn Provider>, ProviderError> {
    validate_spec(spec)?;
    let (backend, arg) = validate::split(spec)?;
    match backend {
        "scripted" => {
            // `join` keeps an absolute `arg` as it is.
            let provider = ScriptedProvider::load(&base_dir.join(arg))?;
            Ok(Box::new(provider))
        }
        claude_code::NAME => Ok(Box::new(ClaudeCodeProvider::from_spec(arg, env)?)),
        anthropic::NAME => Ok(Box::new(AnthropicProvider::from_spec(arg, env)?)),
        openrouter::NAME => Ok(Box::new(OpenRouterProvider::from_spec(arg, env)?)),
        ollama::NAME => Ok(Box::new(OllamaProvider::from_spec(arg, env)?)),
        // `split` only returns the backends listed in `KNOWN_BACKENDS`.
        other => Err(SpecError::UnknownBackend {
            backend: other.to_owned(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_without_colon_is_a_config_error() {
        let err = from_spec("scripted", Path::new(".")).err().unwrap();
        assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("has no ':'"), "{err}");
        assert!(err.hint().unwrap().contains("scripted:PATH"), "{err}");
    }

    #[test]
    fn unknown_backend_lists_the_known_ones() {
        let err = from_spec("gpt-9:large", Path::new(".")).err().unwrap();
        assert_eq!(err.provider(), "gpt-9");
        assert!(
            err.to_string()
                .contains("unknown provider backend \"gpt-9\""),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("scripted:"), "{err}");
    }

    #[test]
    fn scripted_without_path_is_a_config_error() {
        let err = from_spec("scripted:", Path::new(".")).err().unwrap();
        assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("names no script file"), "{err}");
    }

    #[test]
    fn requests_and_responses_round_trip_through_json() {
        let req = Request {
            role: "reviewer".into(),
            turn: 2,
            effect_key: "r1.t7.review#1".into(),
            model: None,
            system: Some("be brief".into()),
            messages: vec![Message::user("hi"), Message::assistant("hello")],
            max_tokens: 100,
            workdir: "/tmp/project".into(),
            edits_tree: true,
            timeout: std::time::Duration::from_millis(1500),
        };
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(json["timeout_ms"], 1500);
        assert_eq!(json["messages"][1]["role"], "assistant");
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), req);

        let resp = Response {
            text: "ok".into(),
            provider: "scripted".into(),
            model: "scripted".into(),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 1,
            },
            cost_usd: None,
            stop_reason: Some("end_turn".into()),
        };
        let json = serde_json::to_string(&resp).unwrap();
        assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), resp);
    }

    #[test]
    fn anthropic_specs_read_the_key_and_base_from_the_environment() {
        let env = testserver::env(&[("ANTHROPIC_API_KEY", "sk-x")]);
        let p = from_spec_with_env("anthropic:claude-sonnet-4-5", Path::new("."), &env).unwrap();
        assert_eq!(p.name(), "anthropic");
        let err = from_spec_with_env("anthropic:m", Path::new("."), &|_| None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
        let err = from_spec_with_env("anthropic:m?stream=sometimes", Path::new("."), &env)
            .err()
            .unwrap();
        assert!(err.to_string().contains("stream"), "{err}");
    }

    #[test]
    fn openrouter_and_ollama_specs_are_registered() {
        let env = testserver::env(&[("OPENROUTER_API_KEY", "sk-or-x")]);
        let p = from_spec_with_env("openrouter:openai/gpt-4o-mini", Path::new("."), &env);
        assert_eq!(p.unwrap().name(), "openrouter");
        let err = from_spec_with_env("openrouter:m", Path::new("."), &|_| None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("OPENROUTER_API_KEY"), "{err}");
        // Model tags contain colons; only the first one splits backend from argument.
        let p = from_spec_with_env("ollama:llama3.2:1b?stream=true", Path::new("."), &|_| None);
        assert_eq!(p.unwrap().name(), "ollama");
    }

    #[test]
    fn claude_code_needs_no_model_and_no_key() {
        for spec in [
            "claude-code",
            "claude-code:",
            "claude-code:sonnet?max_turns=4",
            "claude-code?max_turns=1",
        ] {
            let p = from_spec_with_env(spec, Path::new("."), &|_| None).unwrap();
            assert_eq!(p.name(), "claude-code");
        }
        assert!(validate_spec("claude-code?max_turns=1").is_ok());
        assert!(validate_spec("claude-code?max_turn=1").is_err());
        let err = from_spec_with_env("claude-code:sonnet?max_turns=0", Path::new("."), &|_| None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("max_turns"), "{err}");
    }

    /// Async transports (dashboard, Telegram) will call the engine from a runtime thread;
    /// reqwest's blocking client panics there unless the provider keeps it off that thread.
    #[test]
    fn http_providers_can_be_built_called_and_dropped_inside_an_async_runtime() {
        use testserver::{fixture, Reply, Server};
        let server = Server::start(vec![Reply::json(200, fixture!("anthropic-message.json"))]);
        let env = testserver::env(&[("ANTHROPIC_API_KEY", "sk-x")]);
        let spec = format!("anthropic:claude-sonnet-4-5?base={}", server.base);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let provider = from_spec_with_env(&spec, Path::new("."), &env).unwrap();
            let request = testserver::request(std::time::Duration::from_secs(5));
            let response = provider.complete(&request, &mut |_| {}).unwrap();
            assert_eq!(response.text, "pong");
            drop(provider);
        });
    }

    #[test]
    fn scripted_path_is_relative_to_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.toml"),
            "[[reply]]\nrole = \"a\"\ntext = \"hi\"\n",
        )
        .unwrap();
        let provider = from_spec("scripted:s.toml", dir.path()).unwrap();
        assert_eq!(provider.name(), "scripted");

        let err = from_spec("scripted:missing.toml", dir.path())
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }
}
