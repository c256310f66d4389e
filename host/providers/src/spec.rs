//! The `BACKEND:MODEL?key=value&key=value` part of provider specs shared by the real backends,
//! and the environment lookup they are built with.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::validate::{looks_secret, secret, secret_name, shown, SpecError};
use crate::ProviderError;

/// Reads one environment variable. `from_spec` passes the process environment; tests pass a map,
/// so they never mutate the environment other tests run in.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A parsed spec argument: the model (may be empty) and its options.
#[derive(Debug)]
pub(crate) struct Options {
    backend: &'static str,
    pub model: String,
    values: BTreeMap<String, String>,
}

impl Options {
    /// Parses `MODEL?k=v&k=v`. Values are taken literally (no percent-decoding): specs are
    /// written by hand in loom.toml, and URLs and model ids need no escaping there. Every key must
    /// be in `allowed`, so a misspelt option is an error instead of being ignored; a secret in
    /// any part is refused (see [`crate::validate_spec`]). Errors never repeat a value.
    pub fn parse(backend: &'static str, arg: &str, allowed: &[&str]) -> Result<Options, SpecError> {
        let (model, query) = arg.split_once('?').unwrap_or((arg, ""));
        if looks_secret(model) {
            return Err(secret(Some(backend), "the model"));
        }
        let mut values = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                if looks_secret(pair) || secret_name(pair) {
                    return Err(secret(Some(backend), "an option"));
                }
                return Err(invalid(
                    backend,
                    format!("option {:?} has no '='", shown(pair)),
                    "write options as ?key=value&key=value",
                ));
            };
            if looks_secret(key) {
                return Err(secret(Some(backend), "an option"));
            }
            if secret_name(key) {
                return Err(secret(Some(backend), &format!("option {key:?}")));
            }
            if looks_secret(value) {
                return Err(secret(
                    Some(backend),
                    &format!("the value of option {key:?}"),
                ));
            }
            if !allowed.contains(&key) {
                return Err(SpecError::UnknownOption {
                    backend: backend.to_owned(),
                    option: shown(key),
                    known: allowed.join(", "),
                });
            }
            if values.insert(key.to_string(), value.to_string()).is_some() {
                return Err(invalid(
                    backend,
                    format!("option {key:?} given twice"),
                    "give each option once",
                ));
            }
        }
        Ok(Options {
            backend,
            model: model.trim().to_string(),
            values,
        })
    }

    /// Checks the values of the options every backend reads the same way, so that a spec
    /// that validates also builds.
    pub fn check_values(&self) -> Result<(), SpecError> {
        self.flag("stream", false)?;
        self.timeout_cap()?;
        self.key_env(self.backend, "KEY")?;
        self.positive("max_turns")?;
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The environment variable holding the key: option `key_env`, else `default`. Only the
    /// variable's name is ever in a spec, never the key.
    pub fn key_env(&self, provider: &str, default: &str) -> Result<String, SpecError> {
        let Some(name) = self.get("key_env") else {
            return Ok(default.to_string());
        };
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(name.to_string())
        } else {
            // Not repeated: people paste the key itself here.
            Err(invalid(
                provider,
                "key_env must be the name of an environment variable, not the key".into(),
                "write the variable's name in capitals, e.g. key_env=WORK_ANTHROPIC_KEY",
            ))
        }
    }

    /// A boolean option: `true`/`false`/`1`/`0`, else `default`.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, SpecError> {
        match self.get(key) {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(_) => Err(self.bad(key, "true or false")),
        }
    }

    /// An optional positive whole number.
    pub fn positive(&self, key: &str) -> Result<Option<u32>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(self.bad(key, "a positive whole number")),
            },
        }
    }

    /// An optional `timeout_ms` cap: the request's own timeout applies, shortened by this.
    pub fn timeout_cap(&self) -> Result<Option<Duration>, SpecError> {
        match self.get("timeout_ms") {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(|ms| Some(Duration::from_millis(ms)))
                .map_err(|_| self.bad("timeout_ms", "milliseconds")),
        }
    }

    /// The base URL: the `base` option, else the environment variable, else the default, without
    /// a trailing slash. A value without a scheme gets `http://` (Ollama's own `OLLAMA_HOST`
    /// convention is `host:port`).
    pub fn base_url(&self, env: Env<'_>, var: &str, default: &str) -> String {
        let raw = self
            .get("base")
            .map(str::to_string)
            .or_else(|| env(var).filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| default.to_string());
        let raw = raw.trim().trim_end_matches('/');
        if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        }
    }

    /// The value is not repeated: whatever was typed there may be private.
    fn bad(&self, key: &str, want: &str) -> SpecError {
        invalid(
            self.backend,
            format!("option {key} is not {want}"),
            &format!("fix the {key} option in the {} spec", self.backend),
        )
    }
}

fn invalid(backend: &str, message: String, hint: &str) -> SpecError {
    SpecError::Invalid {
        backend: backend.to_owned(),
        message,
        hint: hint.to_owned(),
    }
}

pub(crate) fn config(provider: &str, message: String, hint: String) -> ProviderError {
    ProviderError::Config {
        provider: provider.to_string(),
        message,
        hint,
    }
}

/// The model to ask for: the spec's wins, because one request goes to every provider of a
/// fallback chain and a model id of one backend means nothing to another; the request's model is
/// used only when the spec names none.
pub(crate) fn pick_model(
    provider: &str,
    spec_model: &str,
    req_model: Option<&str>,
    example: &str,
) -> Result<String, ProviderError> {
    if !spec_model.is_empty() {
        return Ok(spec_model.to_string());
    }
    match req_model.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => Ok(m.to_string()),
        None => Err(config(
            provider,
            "no model: the spec names none and the request asks for none".to_string(),
            format!("write the model into the spec, e.g. {example}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_and_options() {
        let o = Options::parse(
            "anthropic",
            "claude-x?stream=true&base=http://127.0.0.1:9/",
            &["stream", "base"],
        )
        .unwrap();
        assert_eq!(o.model, "claude-x");
        assert!(o.flag("stream", false).unwrap());
        assert_eq!(
            o.base_url(&|_| None, "X", "https://d"),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn rejects_keys_unknown_options_and_bad_values() {
        let err = Options::parse("openrouter", "m?api_key=sk-secret", &["base"]).unwrap_err();
        assert!(!err.to_string().contains("sk-secret"), "{err}");
        let err = Options::parse("ollama", "m?strem=true", &["stream"]).unwrap_err();
        assert!(
            err.to_string().contains("unknown option \"strem\""),
            "{err}"
        );
        let o = Options::parse("ollama", "m?stream=maybe", &["stream"]).unwrap();
        assert!(o.flag("stream", false).is_err());
    }

    #[test]
    fn base_url_falls_back_to_env_then_default_and_adds_a_scheme() {
        let o = Options::parse("ollama", "llama3.2", &["base"]).unwrap();
        let env = |k: &str| (k == "OLLAMA_HOST").then(|| "0.0.0.0:11434".to_string());
        assert_eq!(o.base_url(&env, "OLLAMA_HOST", "x"), "http://0.0.0.0:11434");
        assert_eq!(
            o.base_url(&|_| None, "OLLAMA_HOST", "http://localhost:11434"),
            "http://localhost:11434"
        );
    }

    #[test]
    fn spec_model_wins_over_request_model() {
        assert_eq!(pick_model("p", "a", Some("b"), "").unwrap(), "a");
        assert_eq!(pick_model("p", "", Some("b"), "").unwrap(), "b");
        assert!(pick_model("p", "", None, "p:m").is_err());
    }
}
