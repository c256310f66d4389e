//! What every request passes before a handler sees it: the `Host` header must name this
//! server (a page on another site that rebinds its DNS name to 127.0.0.1 sends its own
//! name), a state-changing request from a browser must come from this server's own origin
//! (CSRF), and everything under `/api/` but `/api/v1/health` and the API's description
//! (`/api/v1/openapi.json`, which says nothing about the project), and `/mcp`, needs a bearer
//! token.

use crate::problem::Problem;
use crate::users::Users;
use crate::App;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// Who a request comes from, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A named user of `.loom/users.json`: decisions are recorded as theirs, via `http`.
    User(String),
    /// The CLI on this machine, with the token of `.loom/serve.json`: it names the person
    /// itself (`--as`, `$USER`), as it does when it drives directly, and records `cli`.
    LocalCli,
}

pub(crate) async fn check(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Result<Response, Problem> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !app.public && !app.hosts.contains(&host) {
        return Err(Problem::forbidden(format!(
            "Host {host:?} is not this server's address (requests through another name are refused)"
        )));
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            if origin != format!("http://{host}") {
                return Err(Problem::forbidden(format!(
                    "Origin {origin:?} is not this server's own: cross-site requests may not change anything"
                )));
            }
        }
    }
    // The dashboard's pages check their session cookie themselves.
    let path = req.uri().path();
    let needs_token = path.starts_with("/api/") || path == "/mcp" || path.starts_with("/mcp/");
    if matches!(path, "/api/v1/health" | "/api/v1/openapi.json") || !needs_token {
        return Ok(next.run(req).await);
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(Problem::unauthorized(
            "send `Authorization: Bearer TOKEN` (`loom serve --add-user NAME` issues one)",
        ));
    }
    let caller = if loom_kernel::hash::sha256_hex(token.as_bytes()) == app.local_token_sha256 {
        Caller::LocalCli
    } else {
        let users = Users::load(&app.root).map_err(|e| Problem::internal(e.to_string()))?;
        match users.find(token) {
            Some(u) => Caller::User(u.name.clone()),
            None => {
                return Err(Problem::unauthorized(
                    "the token is not valid for this project",
                ))
            }
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}
