//! `openrouter:MODEL`: OpenAI-format chat completions at `{base}/api/v1/chat/completions`,
//! answered whole or as server-sent events. Wire format: shared/protocols/02-openrouter.md.

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{self, Errors, Lines, Secret};
use crate::spec::{self, Env, Options};
use crate::{MessageRole, Progress, Provider, ProviderError, Request, Response, Usage};

pub const NAME: &str = "openrouter";
pub const KEY_VAR: &str = "OPENROUTER_API_KEY";
pub const BASE_VAR: &str = "OPENROUTER_BASE_URL";
pub const DEFAULT_BASE: &str = "https://openrouter.ai";
/// Sent as `X-Title` unless the spec's `title` option says otherwise: the app name OpenRouter
/// shows for its attribution.
pub const DEFAULT_TITLE: &str = "loom";
pub(crate) const OPTIONS: &[&str] = &[
    "key_env",
    "base",
    "stream",
    "timeout_ms",
    "referer",
    "title",
    "fallbacks",
];

/// A provider calling OpenRouter with a key from `OPENROUTER_API_KEY`.
#[derive(Debug)]
pub struct OpenRouterProvider {
    model: String,
    /// Models OpenRouter itself tries, in order, if `model` fails (its `models` field).
    fallbacks: Vec<String>,
    base: String,
    key: Secret,
    /// The environment variable the key came from (for hints; never the key).
    key_var: String,
    stream: bool,
    referer: Option<String>,
    title: String,
    timeout_cap: Option<Duration>,
}

impl OpenRouterProvider {
    pub(crate) fn from_spec(arg: &str, env: Env<'_>) -> Result<OpenRouterProvider, ProviderError> {
        let options = Options::parse(NAME, arg, OPTIONS)?;
        let key_var = options.key_env(NAME, KEY_VAR)?;
        let base = options.base_url(env, BASE_VAR, DEFAULT_BASE);
        // Accept the OpenAI-SDK habit of putting the API prefix in the base, too.
        let base = base.strip_suffix("/api/v1").unwrap_or(&base).to_string();
        Ok(OpenRouterProvider {
            fallbacks: options
                .get("fallbacks")
                .map(|f| {
                    f.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            base,
            key: Secret::from_env(NAME, env, &key_var)?,
            key_var,
            stream: options.flag("stream", false)?,
            referer: options.get("referer").map(str::to_string),
            title: options.get("title").unwrap_or(DEFAULT_TITLE).to_string(),
            timeout_cap: options.timeout_cap()?,
            model: options.model,
        })
    }
}

const ERRORS: Errors<'static> = Errors {
    provider: NAME,
    key_var: Some(KEY_VAR),
    message: error_message,
};

/// `{"error":{"code":429,"message":…,"metadata":{"provider_name":…}}}` → "message (provider)".
fn error_message(v: &Value) -> Option<String> {
    let error = v.get("error")?;
    let mut text = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_string();
    if let Some(p) = error
        .pointer("/metadata/provider_name")
        .and_then(Value::as_str)
    {
        text.push_str(&format!(" (upstream {p})"));
    }
    Some(text)
}

/// An error carried in a 200 body or a stream chunk, classified by its numeric `code` the way
/// an HTTP status would be (a missing or odd code counts as a server error).
fn body_error(v: &Value) -> Option<ProviderError> {
    let error = v.get("error").filter(|e| !e.is_null())?;
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(500);
    let headers = reqwest::header::HeaderMap::new();
    Some(moderation_is_permanent(ERRORS.status(
        code,
        &headers,
        &v.to_string(),
    )))
}

/// On OpenRouter a 403 is a moderation or guardrail refusal of this input, not a key problem
/// (02-openrouter.md), so it must not stop the chain as a `Config` error would: another provider
/// may well answer.
fn moderation_is_permanent(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Config { message, .. } if message.starts_with("HTTP 403") => {
            ERRORS.permanent(message)
        }
        other => other,
    }
}

/// Messages in OpenAI chat shape, the system prompt first. Ollama's `/api/chat` takes the same.
pub(crate) fn chat_messages(req: &Request) -> Vec<Value> {
    let system = req
        .system
        .iter()
        .map(|s| json!({"role": "system", "content": s}));
    let rest = req.messages.iter().map(|m| {
        let role = match m.role {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
        };
        json!({"role": role, "content": m.content})
    });
    system.chain(rest).collect()
}

impl OpenRouterProvider {
    /// [`ERRORS`] naming the variable this provider's key came from.
    fn errors(&self) -> Errors<'_> {
        Errors {
            key_var: Some(&self.key_var),
            ..ERRORS
        }
    }
}

impl Provider for OpenRouterProvider {
    fn reports_cost(&self) -> bool {
        true
    }

    fn model(&self) -> Option<&str> {
        Some(self.model.as_str()).filter(|m| !m.is_empty())
    }

    fn name(&self) -> &str {
        NAME
    }

    /// Asks about the key itself (`GET /api/v1/key`, free): accepted, and what credit is left.
    fn check(&self) -> Result<String, ProviderError> {
        http::off_runtime(&mut |_| {}, |_| {
            let client = http::client(NAME)?;
            let url = format!("{}/api/v1/key", self.base);
            let request = client.get(&url).bearer_auth(self.key.expose());
            let response = self.errors().send(request, &url, Duration::from_secs(15))?;
            let text = http::read_body(&ERRORS, response)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| ERRORS.malformed("the key details", &e, &text))?;
            let d = &v["data"];
            let credit = match (d["limit"].as_f64(), d["limit_remaining"].as_f64()) {
                (Some(limit), Some(left)) => format!("${left:.2} of ${limit:.2} left"),
                _ => "no credit limit".into(),
            };
            Ok(format!(
                "key {} accepted; ${:.2} used, {credit}",
                d["label"].as_str().unwrap_or("?"),
                d["usage"].as_f64().unwrap_or(0.0)
            ))
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

impl OpenRouterProvider {
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
            "openrouter:anthropic/claude-sonnet-4.5",
        )?;
        let timeout = self.timeout_cap.map_or(req.timeout, |c| c.min(req.timeout));
        let url = format!("{}/api/v1/chat/completions", self.base);
        let mut body = json!({
            "model": model,
            "messages": chat_messages(req),
            "max_tokens": req.max_tokens.max(1),
            "stream": self.stream,
        });
        if !self.fallbacks.is_empty() {
            let models: Vec<&str> = std::iter::once(model.as_str())
                .chain(self.fallbacks.iter().map(String::as_str))
                .collect();
            body["models"] = json!(models);
        }
        let mut request = client
            .post(&url)
            .bearer_auth(self.key.expose())
            .header("X-Title", &self.title)
            .json(&body);
        if let Some(referer) = &self.referer {
            request = request.header("HTTP-Referer", referer);
        }
        progress(Progress::Started {
            provider: NAME.to_string(),
            model: model.clone(),
        });
        let response = self
            .errors()
            .send(request, &url, timeout)
            .map_err(moderation_is_permanent)?;
        if self.stream {
            let response = http::expect_stream(&ERRORS, response, "text/event-stream", body_error)?;
            return read_stream(response, model, progress);
        }
        let text = http::read_body(&ERRORS, response)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ERRORS.malformed("the completion", &e, &text))?;
        if let Some(e) = body_error(&v) {
            return Err(e);
        }
        let choice = v.pointer("/choices/0").ok_or_else(|| {
            ERRORS.permanent(format!(
                "completion has no choices: {}",
                http::excerpt(&text)
            ))
        })?;
        let usage = usage_of(&v);
        progress(Progress::Tokens {
            output_tokens: usage.output_tokens,
        });
        Ok(Response {
            text: str_at(choice, "/message/content").unwrap_or_default(),
            provider: NAME.to_string(),
            model: str_at(&v, "/model").unwrap_or(model),
            usage,
            cost_usd: v.pointer("/usage/cost").and_then(Value::as_f64),
            stop_reason: str_at(choice, "/finish_reason"),
        })
    }
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn usage_of(v: &Value) -> Usage {
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("/usage/prompt_tokens"),
        output_tokens: n("/usage/completion_tokens"),
    }
}

/// Reads `data:` chunks to `[DONE]`. Output tokens are one per content delta (a lower bound)
/// until the final chunk's usage gives the real count.
fn read_stream(
    response: reqwest::blocking::Response,
    mut model: String,
    progress: &mut dyn FnMut(Progress),
) -> Result<Response, ProviderError> {
    let mut lines = Lines::new(response);
    let mut text = String::new();
    let mut usage = Usage::default();
    let mut cost_usd = None;
    let mut stop_reason = None;
    let mut deltas = 0u64;
    // Bounded by the body size limit and the request timeout, both enforced by the reader.
    loop {
        let Some(event) = lines
            .next_event()
            .map_err(|e| e.into_provider_error(&ERRORS))?
        else {
            return Err(ERRORS.transient(
                "stream ended before [DONE] (truncated answer)".to_string(),
                None,
            ));
        };
        if event.data.trim() == "[DONE]" {
            return Ok(Response {
                text,
                provider: NAME.to_string(),
                model,
                usage,
                cost_usd,
                stop_reason,
            });
        }
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|e| ERRORS.malformed("a stream chunk", &e, &event.data))?;
        if let Some(e) = body_error(&chunk) {
            return Err(e);
        }
        if let Some(m) = str_at(&chunk, "/model") {
            model = m;
        }
        if let Some(t) = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            if !t.is_empty() {
                http::push_text(&ERRORS, &mut text, t)?;
                deltas += 1;
                usage.output_tokens = usage.output_tokens.max(deltas);
                progress(Progress::Tokens {
                    output_tokens: usage.output_tokens,
                });
            }
        }
        if let Some(r) = str_at(&chunk, "/choices/0/finish_reason") {
            stop_reason = Some(r);
        }
        if chunk.get("usage").is_some_and(|u| !u.is_null()) {
            usage = usage_of(&chunk);
            cost_usd = chunk.pointer("/usage/cost").and_then(Value::as_f64);
            progress(Progress::Tokens {
                output_tokens: usage.output_tokens,
            });
        }
    }
}
