//! `anthropic:MODEL`: the Anthropic Messages API (`POST {base}/v1/messages`), answered whole or
//! as server-sent events. Wire format: shared/protocols/01-anthropic-messages.md.

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{self, Errors, Lines, Secret};
use crate::spec::{self, Env, Options};
use crate::{MessageRole, Progress, Provider, ProviderError, Request, Response, Usage};

pub const NAME: &str = "anthropic";
pub const KEY_VAR: &str = "ANTHROPIC_API_KEY";
pub const BASE_VAR: &str = "ANTHROPIC_BASE_URL";
pub const DEFAULT_BASE: &str = "https://api.anthropic.com";
/// The API version loom speaks; what Claude Code itself still sends.
pub const API_VERSION: &str = "2023-06-01";
pub(crate) const OPTIONS: &[&str] = &["base", "stream", "timeout_ms", "beta", "key_env"];

/// A provider calling the Messages API with a key from `ANTHROPIC_API_KEY`.
#[derive(Debug)]
pub struct AnthropicProvider {
    model: String,
    base: String,
    key: Secret,
    /// The environment variable the key came from (for hints; never the key).
    key_var: String,
    stream: bool,
    /// `anthropic-beta` header value, if any (comma list).
    beta: Option<String>,
    timeout_cap: Option<Duration>,
}

impl AnthropicProvider {
    pub(crate) fn from_spec(arg: &str, env: Env<'_>) -> Result<AnthropicProvider, ProviderError> {
        let options = Options::parse(NAME, arg, OPTIONS)?;
        let key_var = options.key_env(NAME, KEY_VAR)?;
        Ok(AnthropicProvider {
            base: options.base_url(env, BASE_VAR, DEFAULT_BASE),
            key: Secret::from_env(NAME, env, &key_var)?,
            key_var,
            stream: options.flag("stream", false)?,
            beta: options.get("beta").map(str::to_string),
            timeout_cap: options.timeout_cap()?,
            model: options.model,
        })
    }

    fn errors(&self) -> Errors<'_> {
        Errors {
            provider: NAME,
            key_var: Some(&self.key_var),
            message: error_message,
        }
    }
}

/// `{"type":"error","error":{"type":…,"message":…}}` → "type: message".
fn error_message(v: &Value) -> Option<String> {
    let error = v.get("error")?;
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let mut text = format!("{kind}: {message}");
    // A spend-cap 429 looks like a rate limit but waiting does not help; keep the code visible
    // so `complete` can tell.
    if let Some(code) = error.pointer("/details/error_code").and_then(Value::as_str) {
        text.push_str(&format!(" ({code})"));
    }
    Some(text)
}

/// An error object where an answer was expected (a 200 whose body is `{"type":"error",…}`),
/// or `None` for anything else.
fn body_error(errors: &Errors<'_>, v: &Value) -> Option<ProviderError> {
    if v.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let message = error_message(v).unwrap_or_else(|| http::excerpt(&v.to_string()));
    let kind = v.pointer("/error/type").and_then(Value::as_str);
    Some(classified(errors, kind, message))
}

/// One classification of the API's error types, wherever they arrive (a status, a 200 body,
/// a stream event): the server's own trouble is worth another try, the request's is not.
fn classified(errors: &Errors<'_>, kind: Option<&str>, message: String) -> ProviderError {
    match kind {
        Some("overloaded_error" | "api_error" | "rate_limit_error" | "timeout_error") => {
            errors.transient(message, None)
        }
        _ => errors.permanent(message),
    }
}

impl Provider for AnthropicProvider {
    fn model(&self) -> Option<&str> {
        Some(self.model.as_str()).filter(|m| !m.is_empty())
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Lists the models (`GET /v1/models`, free): the key works, and the model is among them.
    fn check(&self) -> Result<String, ProviderError> {
        http::off_runtime(&mut |_| {}, |_| {
            let client = http::client(NAME)?;
            let url = format!("{}/v1/models?limit=1000", self.base);
            let errors = self.errors();
            let request = client
                .get(&url)
                .header("x-api-key", self.key.expose())
                .header("anthropic-version", API_VERSION);
            let response = errors.send(request, &url, Duration::from_secs(15))?;
            let text = http::read_body(&errors, response)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| errors.malformed("the model list", &e, &text))?;
            let ids: Vec<&str> = v["data"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m["id"].as_str()).collect())
                .unwrap_or_default();
            let wanted = &self.model;
            // Aliases name a family (`claude-sonnet-4-5`); the list holds dated ids.
            if wanted.is_empty() || ids.iter().any(|id| id.starts_with(wanted.as_str())) {
                Ok(format!(
                    "key accepted at {}; {} model(s) listed",
                    self.base,
                    ids.len()
                ))
            } else {
                Err(errors.permanent(format!(
                    "the key works but no model {wanted} is listed at {}; listed: {}",
                    self.base,
                    ids.join(", ")
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

impl AnthropicProvider {
    /// One call, on the thread `off_runtime` gives it; the client lives and dies here.
    fn call(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError> {
        let client = http::client(NAME)?;
        let model = spec::pick_model(
            NAME,
            &self.model,
            req.model.as_deref(),
            "anthropic:claude-sonnet-4-5",
        )?;
        let timeout = self.timeout_cap.map_or(req.timeout, |c| c.min(req.timeout));
        let url = format!("{}/v1/messages", self.base);
        let errors = self.errors();
        let mut request = client
            .post(&url)
            .header("x-api-key", self.key.expose())
            .header("anthropic-version", API_VERSION)
            .json(&body(req, &model, self.stream));
        if let Some(beta) = &self.beta {
            request = request.header("anthropic-beta", beta);
        }
        progress(Progress::Started {
            provider: NAME.to_string(),
            model: model.clone(),
        });
        let response = errors.send(request, &url, timeout).map_err(|e| match e {
            ProviderError::Transient { message, .. }
                if message.contains("enforced_spend_limit_reached") =>
            {
                spec::config(
                    NAME,
                    message,
                    "the workspace hit its spend limit; raise it in the Anthropic console"
                        .to_string(),
                )
            }
            other => other,
        })?;
        if self.stream {
            let response = http::expect_stream(&errors, response, "text/event-stream", |v| {
                body_error(&errors, v)
            })?;
            read_stream(&errors, response, model, progress)
        } else {
            let text = http::read_body(&errors, response)?;
            if let Some(e) = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| body_error(&errors, &v))
            {
                return Err(e);
            }
            let message: WireMessage = serde_json::from_str(&text)
                .map_err(|e| errors.malformed("the messages answer", &e, &text))?;
            let usage = message.usage.to_usage();
            progress(Progress::Tokens {
                output_tokens: usage.output_tokens,
            });
            Ok(Response {
                text: message.text(),
                provider: NAME.to_string(),
                model: message.model,
                usage,
                // No price table yet: the API reports tokens, not dollars.
                cost_usd: None,
                stop_reason: message.stop_reason,
            })
        }
    }
}

/// The request body (01-anthropic-messages.md, "Request body").
fn body(req: &Request, model: &str, stream: bool) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                MessageRole::User => "user",
                MessageRole::Assistant => "assistant",
            };
            json!({"role": role, "content": m.content})
        })
        .collect();
    let mut body = json!({
        "model": model,
        // The API rejects 0; one token is the smallest valid ask.
        "max_tokens": req.max_tokens.max(1),
        "messages": messages,
        "stream": stream,
    });
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    body
}

#[derive(Deserialize)]
struct WireMessage {
    model: String,
    content: Vec<Block>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

impl WireMessage {
    /// The text blocks joined; loom sends no tools, so other blocks carry nothing it can use.
    fn text(&self) -> String {
        self.content
            .iter()
            .filter(|b| b.kind == "text")
            .map(|b| b.text.as_str())
            .collect()
    }
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    // null in some answers, absent in others.
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Input counts every prompt token, cached or not: budgets are about what was sent.
    fn to_usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens
                + self.cache_creation_input_tokens.unwrap_or(0)
                + self.cache_read_input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens,
        }
    }
}

/// Reads the event stream to `message_stop`. Output tokens are reported as they grow: one per
/// text delta (a lower bound) until `message_delta` gives the real count.
fn read_stream(
    errors: &Errors<'_>,
    response: reqwest::blocking::Response,
    mut model: String,
    progress: &mut dyn FnMut(Progress),
) -> Result<Response, ProviderError> {
    let mut lines = Lines::new(response);
    let mut text = String::new();
    let mut usage = Usage::default();
    let mut stop_reason = None;
    let mut deltas = 0u64;
    // Bounded by the body size limit and the request timeout, both enforced by the reader.
    loop {
        let Some(event) = lines
            .next_event()
            .map_err(|e| e.into_provider_error(errors))?
        else {
            return Err(errors.transient(
                "stream ended before message_stop (truncated answer)".to_string(),
                None,
            ));
        };
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| errors.malformed("a stream event", &e, &event.data))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.event);
        match kind {
            "message_start" => {
                if let Some(m) = data.pointer("/message/model").and_then(Value::as_str) {
                    model = m.to_string();
                }
                if let Some(u) = data.pointer("/message/usage") {
                    let u: WireUsage = serde_json::from_value(u.clone())
                        .map_err(|e| errors.malformed("message_start usage", &e, &event.data))?;
                    usage = u.to_usage();
                }
            }
            "content_block_delta" => {
                if let Some(t) = data.pointer("/delta/text").and_then(Value::as_str) {
                    http::push_text(errors, &mut text, t)?;
                    deltas += 1;
                    usage.output_tokens = usage.output_tokens.max(deltas);
                    progress(Progress::Tokens {
                        output_tokens: usage.output_tokens,
                    });
                }
            }
            "message_delta" => {
                if let Some(r) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    stop_reason = Some(r.to_string());
                }
                if let Some(n) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    usage.output_tokens = n;
                    progress(Progress::Tokens { output_tokens: n });
                }
            }
            "message_stop" => {
                return Ok(Response {
                    text,
                    provider: NAME.to_string(),
                    model,
                    usage,
                    cost_usd: None,
                    stop_reason,
                });
            }
            "error" => {
                let message = error_message(&data).unwrap_or_else(|| http::excerpt(&event.data));
                let kind = data.pointer("/error/type").and_then(Value::as_str);
                return Err(classified(
                    errors,
                    kind,
                    format!("error mid-stream: {message}"),
                ));
            }
            // ping, content_block_start/stop, and event types added later: nothing to do.
            _ => {}
        }
    }
}
