//! `ollama:MODEL`: a local Ollama server's native `POST {base}/api/chat`, answered whole
//! (`stream: false`) or as NDJSON lines. No key. Wire format: shared/protocols/03-ollama.md.

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{self, Errors, Lines};
use crate::spec::{self, Env, Options};
use crate::{Progress, Provider, ProviderError, Request, Response, Usage};

pub const NAME: &str = "ollama";
/// Ollama's own variable; `host:port` without a scheme is accepted, as Ollama accepts it.
pub const BASE_VAR: &str = "OLLAMA_HOST";
pub const DEFAULT_BASE: &str = "http://localhost:11434";
pub(crate) const OPTIONS: &[&str] = &["base", "stream", "timeout_ms"];

/// A provider calling a local (or reachable) Ollama server.
#[derive(Debug)]
pub struct OllamaProvider {
    model: String,
    base: String,
    stream: bool,
    timeout_cap: Option<Duration>,
}

impl OllamaProvider {
    pub(crate) fn from_spec(arg: &str, env: Env<'_>) -> Result<OllamaProvider, ProviderError> {
        let options = Options::parse(NAME, arg, OPTIONS)?;
        Ok(OllamaProvider {
            base: options.base_url(env, BASE_VAR, DEFAULT_BASE),
            stream: options.flag("stream", false)?,
            timeout_cap: options.timeout_cap()?,
            model: options.model,
        })
    }
}

const ERRORS: Errors<'static> = Errors {
    provider: NAME,
    key_var: None,
    message: error_message,
};

/// An error Ollama sends as text only (no status to go by, as a 200 body or a stream line):
/// the server's own trouble (busy, overloaded, a runner that died, out of memory) is
/// transient, as a 503 is; anything else (no such model, a bad option) is the request's.
fn classify(message: String) -> crate::ProviderError {
    const SERVER_TROUBLE: &[&str] = &[
        "busy",
        "try again",
        "overloaded",
        "unavailable",
        "timed out",
        "timeout",
        "runner process",
        "out of memory",
    ];
    let lower = message.to_ascii_lowercase();
    if SERVER_TROUBLE.iter().any(|w| lower.contains(w)) {
        ERRORS.transient(message, None)
    } else {
        ERRORS.permanent(message)
    }
}

/// `{"error":"model 'x' not found"}` → its text.
fn error_message(v: &Value) -> Option<String> {
    v.get("error")?.as_str().map(str::to_string)
}

impl Provider for OllamaProvider {
    fn model(&self) -> Option<&str> {
        Some(self.model.as_str()).filter(|m| !m.is_empty())
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Lists the server's models (`GET /api/tags`) and looks for this one.
    fn check(&self) -> Result<String, ProviderError> {
        http::off_runtime(&mut |_| {}, |_| {
            let client = http::client(NAME)?;
            let url = format!("{}/api/tags", self.base);
            let response = ERRORS
                .send(client.get(&url), &url, Duration::from_secs(10))
                .map_err(|e| with_hints(e, &self.model))?;
            let text = http::read_body(&ERRORS, response)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| ERRORS.malformed("the model list", &e, &text))?;
            let names: Vec<&str> = v["models"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m["name"].as_str()).collect())
                .unwrap_or_default();
            let wanted = &self.model;
            let found = wanted.is_empty()
                || names
                    .iter()
                    .any(|n| n == wanted || *n == format!("{wanted}:latest"));
            if found {
                Ok(format!(
                    "reachable at {}; {} model(s), {wanted} among them",
                    self.base,
                    names.len()
                ))
            } else {
                Err(ERRORS.permanent(format!(
                    "model {wanted} is not on the server at {} (run `ollama pull {wanted}`)",
                    self.base
                )))
            }
        })
    }

    fn complete(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError> {
        http::off_runtime(progress, |progress| self.call(req, progress))
    }
}

impl OllamaProvider {
    /// One call, on the thread `off_runtime` gives it; the client lives and dies here.
    fn call(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError> {
        let client = http::client(NAME)?;
        let model = spec::pick_model(NAME, &self.model, req.model.as_deref(), "ollama:llama3.2")?;
        let timeout = self.timeout_cap.map_or(req.timeout, |c| c.min(req.timeout));
        let url = format!("{}/api/chat", self.base);
        let body = json!({
            "model": model,
            "messages": crate::openrouter::chat_messages(req),
            // Ollama streams unless told otherwise, so always say which.
            "stream": self.stream,
            "options": {"num_predict": req.max_tokens.max(1)},
        });
        progress(Progress::Started {
            provider: NAME.to_string(),
            model: model.clone(),
        });
        let request = client.post(&url).json(&body);
        let response = ERRORS
            .send(request, &url, timeout)
            .map_err(|e| with_hints(e, &model))?;
        if self.stream {
            let response = http::expect_stream(&ERRORS, response, "application/x-ndjson", |v| {
                error_message(v).map(classify)
            })?;
            return read_stream(response, model, progress);
        }
        let text = http::read_body(&ERRORS, response)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ERRORS.malformed("the chat answer", &e, &text))?;
        if let Some(message) = error_message(&v) {
            return Err(classify(message));
        }
        let mut content = String::new();
        http::push_text(&ERRORS, &mut content, str_at(&v, "/message/content"))?;
        Ok(finish(v, content, model, progress))
    }
}

/// Adds what to do to the two failures a person meets first: no server, and no such model.
fn with_hints(e: ProviderError, model: &str) -> ProviderError {
    match e {
        ProviderError::Transient {
            provider,
            message,
            retry_after,
        } if message.contains("cannot connect") => ProviderError::Transient {
            provider,
            message: format!(
                "{message} (is `ollama serve` running? set {BASE_VAR} if it is elsewhere)"
            ),
            retry_after,
        },
        ProviderError::Permanent { provider, message } if message.starts_with("HTTP 404") => {
            ProviderError::Permanent {
                provider,
                message: format!("{message} (run `ollama pull {model}`)"),
            }
        }
        other => other,
    }
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The response from the final object (`done: true`), which carries the counts.
fn finish(
    last: Value,
    text: String,
    model: String,
    progress: &mut dyn FnMut(Progress),
) -> Response {
    let n = |key: &str| last.get(key).and_then(Value::as_u64).unwrap_or(0);
    let usage = Usage {
        input_tokens: n("prompt_eval_count"),
        output_tokens: n("eval_count"),
    };
    progress(Progress::Tokens {
        output_tokens: usage.output_tokens,
    });
    let answered = str_at(&last, "/model");
    Response {
        text,
        provider: NAME.to_string(),
        model: if answered.is_empty() {
            model
        } else {
            answered.to_string()
        },
        usage,
        // A local model: cost unknown, which is not the same as free.
        cost_usd: None,
        stop_reason: last
            .get("done_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// Reads NDJSON objects to the one with `done: true`. Output tokens are one per chunk with text
/// (Ollama sends about one token per chunk) until the final `eval_count`.
fn read_stream(
    response: reqwest::blocking::Response,
    model: String,
    progress: &mut dyn FnMut(Progress),
) -> Result<Response, ProviderError> {
    let mut lines = Lines::new(response);
    let mut text = String::new();
    let mut chunks = 0u64;
    // Bounded by the body size limit and the request timeout, both enforced by the reader.
    loop {
        let Some(line) = lines
            .next_line()
            .map_err(|e| e.into_provider_error(&ERRORS))?
        else {
            return Err(ERRORS.transient(
                "stream ended before done:true (truncated answer)".to_string(),
                None,
            ));
        };
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| ERRORS.malformed("a stream line", &e, &line))?;
        if let Some(message) = error_message(&v) {
            // Before any output it is the request's error (no such model, say), as it is
            // without streaming; after output the server failed while generating (a crashed
            // runner), and a new call may work.
            return Err(if chunks == 0 {
                classify(message)
            } else {
                ERRORS.transient(format!("error mid-stream: {message}"), None)
            });
        }
        let piece = str_at(&v, "/message/content");
        if !piece.is_empty() {
            http::push_text(&ERRORS, &mut text, piece)?;
            chunks += 1;
            progress(Progress::Tokens {
                output_tokens: chunks,
            });
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            return Ok(finish(v, text, model, progress));
        }
    }
}
