//! The few Bot API methods the bot needs, over async reqwest, and the fields of their types it
//! reads. Every answer is an envelope `{"ok": true, "result": …}` or `{"ok": false,
//! "error_code": …, "description": …, "parameters": {…}}`; the envelope, not the HTTP status,
//! says what happened. The token is part of every URL, so no error here ever carries a URL.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a call other than the long poll may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a call came to, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Flood control (429): wait this long, then try again.
    #[error("Telegram asks to wait {retry_after_s} s before the next call (flood control)")]
    Flood { retry_after_s: u64 },
    /// 409: another process polls with this token, or a webhook is set.
    #[error("Telegram says: {0}. Another bot process polls with this token, or a webhook is set (deleteWebhook)")]
    Conflict(String),
    /// The group became a supergroup with this id.
    #[error("the chat moved to supergroup {to}")]
    Migrated { to: i64 },
    #[error("cannot reach the Bot API: {0}")]
    Network(String),
    #[error("the Bot API refused {method}: {code} {description}")]
    Refused {
        method: String,
        code: i64,
        description: String,
    },
    #[error("the Bot API answered {method} with something unreadable: {message}")]
    Malformed { method: String, message: String },
}

impl ApiError {
    /// Worth trying again after a pause: the network, or Telegram's own trouble.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network(_) | ApiError::Malformed { .. } => true,
            ApiError::Refused { code, .. } => *code >= 500,
            _ => false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
}

/// A message, or the stub Telegram sends for one older than 48 hours (chat, id, date 0).
#[derive(Clone, Debug, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    /// Set on the service message of a group that became a supergroup.
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub data: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

/// A body as the Bot API takes it: JSON for nested objects, a form for flat ones (nested
/// values in a form are JSON strings, as Telegram expects).
enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

/// A Bot API client for one token.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Result<Api, ApiError> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: Body,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let req = self.http.post(url).timeout(timeout);
        let req = match body {
            Body::Json(v) => req.json(&v),
            Body::Form(pairs) => req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(&pairs)),
        };
        // `without_url`: the URL holds the token.
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let malformed = |message: String| ApiError::Malformed {
            method: method.to_owned(),
            message,
        };
        let env: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("HTTP {status}, not an envelope: {e}")))?;
        if env.ok {
            return serde_json::from_value(env.result.unwrap_or(Value::Null))
                .map_err(|e| malformed(e.to_string()));
        }
        let code = env.error_code.unwrap_or(i64::from(status));
        let description = env.description.unwrap_or_default();
        let params = env.parameters;
        if let Some(s) = params.as_ref().and_then(|p| p.retry_after) {
            return Err(ApiError::Flood { retry_after_s: s });
        }
        if let Some(to) = params.as_ref().and_then(|p| p.migrate_to_chat_id) {
            return Err(ApiError::Migrated { to });
        }
        if code == 409 {
            return Err(ApiError::Conflict(description));
        }
        Err(ApiError::Refused {
            method: method.to_owned(),
            code,
            description,
        })
    }

    /// Long-polls for updates after `offset` (which confirms every earlier one), holding the
    /// request open up to `timeout_s`.
    pub async fn get_updates(
        &self,
        offset: Option<i64>,
        timeout_s: u64,
    ) -> Result<Vec<Update>, ApiError> {
        let mut form = vec![
            ("timeout", timeout_s.to_string()),
            (
                "allowed_updates",
                r#"["message","callback_query"]"#.to_owned(),
            ),
        ];
        if let Some(o) = offset {
            form.push(("offset", o.to_string()));
        }
        // The HTTP timeout must outlast the poll's own.
        let wait = Duration::from_secs(timeout_s) + CALL_TIMEOUT;
        self.call("getUpdates", Body::Form(form), wait).await
    }

    /// Sends an HTML message, with `reply_markup` when given.
    pub async fn send_message(
        &self,
        chat: i64,
        text: &str,
        reply_markup: Option<Value>,
        reply_to: Option<i64>,
    ) -> Result<Message, ApiError> {
        let mut body = json!({"chat_id": chat, "text": text, "parse_mode": "HTML"});
        if let Some(m) = reply_markup {
            body["reply_markup"] = m;
        }
        if let Some(r) = reply_to {
            body["reply_parameters"] =
                json!({"message_id": r, "allow_sending_without_reply": true});
        }
        self.call("sendMessage", Body::Json(body), CALL_TIMEOUT)
            .await
    }

    /// Replaces a message's text; without a `reply_markup` its keyboard goes. Editing to the
    /// text it already has is success.
    pub async fn edit_message_text(
        &self,
        chat: i64,
        message_id: i64,
        text: &str,
    ) -> Result<(), ApiError> {
        let body = json!({"chat_id": chat, "message_id": message_id, "text": text,
                          "parse_mode": "HTML"});
        match self
            .call::<Value>("editMessageText", Body::Json(body), CALL_TIMEOUT)
            .await
        {
            Ok(_) => Ok(()),
            Err(ApiError::Refused { description, .. })
                if description.contains("message is not modified") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Ends the spinner on a pressed button, with a note (an alert box with `alert`).
    pub async fn answer_callback_query(
        &self,
        id: &str,
        text: &str,
        alert: bool,
    ) -> Result<(), ApiError> {
        let form = vec![
            ("callback_query_id", id.to_owned()),
            ("text", text.to_owned()),
            ("show_alert", alert.to_string()),
        ];
        self.call::<Value>("answerCallbackQuery", Body::Form(form), CALL_TIMEOUT)
            .await
            .map(|_| ())
    }
}

/// `application/x-www-form-urlencoded`: unreserved bytes as they are, the rest as `%XX`.
fn form_encode(pairs: &[(&str, String)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}
