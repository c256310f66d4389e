//! `loom mcp` beside a live `loom serve`: the server holds the project's driver lock, so a
//! second MCP server could only read. Instead stdio is relayed to the server's own MCP
//! endpoint (`/mcp`, Streamable HTTP), and every tool runs there, on the one engine.
//!
//! The relay does not interpret MCP; it moves JSON-RPC messages: each line from stdin is
//! POSTed (concurrently, so a `notifications/cancelled` is not stuck behind the long tool call
//! it cancels), and what comes back, a JSON body or the messages of an SSE stream (replies,
//! progress, an elicitation request), goes to stdout one line each. It keeps what the
//! transport needs between messages: the session id and the negotiated protocol version of a
//! 2025-11-25 session, and the headers a 2026-07-28 request must mirror from its body.

use crate::McpError;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// Where the relay sends, and what it has learnt of the session.
struct Relay {
    url: String,
    token: String,
    http: reqwest::Client,
    session: Mutex<Option<String>>,
    protocol: Mutex<Option<String>>,
    out: Mutex<tokio::io::Stdout>,
}

/// Relays this process's stdin and stdout to the MCP endpoint at `url` until stdin closes.
pub async fn relay_stdio(url: String, token: String) -> Result<(), McpError> {
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| McpError::Transport(format!("cannot build an HTTP client: {e}")))?;
    let relay = Arc::new(Relay {
        url,
        token,
        http,
        session: Mutex::new(None),
        protocol: Mutex::new(None),
        out: Mutex::new(tokio::io::stdout()),
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut sent = Vec::new();
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| McpError::Transport(format!("cannot read stdin: {e}")))?
    {
        if line.trim().is_empty() {
            continue;
        }
        let relay = relay.clone();
        sent.push(tokio::spawn(async move { relay.send(line).await }));
    }
    // Whatever is still streaming has no one left to read it.
    for s in sent {
        s.abort();
    }
    // The client is gone: end the 2025-11-25 session on the server too.
    if let Some(id) = relay.session.lock().await.clone() {
        let _ = relay
            .http
            .delete(&relay.url)
            .bearer_auth(&relay.token)
            .header("Mcp-Session-Id", id)
            .send()
            .await;
    }
    Ok(())
}

impl Relay {
    async fn send(&self, line: String) {
        let msg: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let err = json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32700, "message": format!("parse error: {e}")}});
                return self.write(&err).await;
            }
        };
        if let Err(why) = self.post(&msg, line).await {
            // Only a request has anyone waiting for an answer.
            if let Some(id) = msg.get("id").filter(|_| msg.get("method").is_some()) {
                let err = json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32603, "message": why}});
                self.write(&err).await;
            }
        }
    }

    async fn post(&self, msg: &Value, body: String) -> Result<(), String> {
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        if let Some(id) = self.session.lock().await.clone() {
            req = req.header("Mcp-Session-Id", id);
        }
        let method = msg.get("method").and_then(Value::as_str);
        let params = msg.get("params");
        let modern = params
            .and_then(|p| p.pointer("/_meta/io.modelcontextprotocol~1protocolVersion"))
            .and_then(Value::as_str);
        if let Some(v) = modern {
            // A stateless request mirrors its body in headers.
            req = req.header("MCP-Protocol-Version", v);
            if let Some(m) = method {
                req = req.header("Mcp-Method", m);
            }
            if let Some(name) = params
                .and_then(|p| p.get("name").or_else(|| p.get("uri")))
                .and_then(Value::as_str)
            {
                req = req.header("Mcp-Name", name);
            }
        } else if let Some(v) = self.protocol.lock().await.clone() {
            req = req.header("MCP-Protocol-Version", v);
        }
        let mut resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach loom serve at {}: {e}", self.url))?;
        if let Some(id) = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|h| h.to_str().ok())
        {
            *self.session.lock().await = Some(id.to_owned());
        }
        let status = resp.status();
        let sse = resp
            .headers()
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if sse {
            let mut buf = String::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("the stream from loom serve broke: {e}"))?
            {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some((event, rest)) = split_event(&buf) {
                    self.deliver(method, &event).await;
                    buf = rest;
                }
            }
            return Ok(());
        }
        let text = resp
            .text()
            .await
            .map_err(|e| format!("cannot read loom serve's answer: {e}"))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("jsonrpc").is_some() => {
                self.learn(method, &v).await;
                self.write(&v).await;
                Ok(())
            }
            _ if status.is_success() => Ok(()),
            _ => Err(format!(
                "loom serve answered HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            )),
        }
    }

    /// Writes the JSON-RPC message carried by one SSE event, if it carries one.
    async fn deliver(&self, method: Option<&str>, event: &str) {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            return;
        }
        if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
            self.learn(method, &v).await;
            self.write(&v).await;
        }
    }

    /// Keeps the protocol version an `initialize` answer negotiated.
    async fn learn(&self, method: Option<&str>, answer: &Value) {
        if method == Some("initialize") {
            if let Some(v) = answer
                .pointer("/result/protocolVersion")
                .and_then(Value::as_str)
            {
                *self.protocol.lock().await = Some(v.to_owned());
            }
        }
    }

    /// One message, one line (serde_json writes no newline inside).
    async fn write(&self, v: &Value) {
        let mut line = v.to_string();
        line.push('\n');
        let mut out = self.out.lock().await;
        // A client that closed stdout has stopped listening; there is no one to tell.
        let _ = out.write_all(line.as_bytes()).await;
        let _ = out.flush().await;
    }
}

/// The first complete SSE event of `buf` and what follows it.
fn split_event(buf: &str) -> Option<(String, String)> {
    let normal = buf.replace("\r\n", "\n");
    let at = normal.find("\n\n")?;
    Some((normal[..at].to_owned(), normal[at + 2..].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::split_event;

    #[test]
    fn events_split_at_blank_lines_whatever_the_line_ends() {
        let (e, rest) = split_event("event: message\r\ndata: {\"a\":1}\r\n\r\ndata: x").unwrap();
        assert_eq!(e, "event: message\ndata: {\"a\":1}");
        assert_eq!(rest, "data: x");
        assert!(split_event("data: half").is_none());
    }
}
