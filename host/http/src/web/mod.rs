//! The dashboard: server-rendered pages over the engine service, one file per page. An
//! overview of the open task, every run, one run's live timeline with each tick opened up,
//! a tick's ledger rows in full, a replay, and the gate inbox with Approve / Reject forms
//! bound to the shown hash.
//!
//! Security model. Login is by the one-time link `loom serve` prints: it sets an HttpOnly,
//! SameSite=Strict session cookie (script cannot read it, another site cannot send it).
//! Every form carries the session's CSRF token, besides the Origin check every
//! state-changing request passes (`guard`). Pages are served with a Content-Security-Policy
//! that allows only this server's own script and style files, so nothing inline runs. maud
//! escapes everything it renders: a reply or a title holding markup is shown as text
//! (nothing here uses `PreEscaped` on model or bundle text).

mod fork;
mod gates;
mod layout;
mod overview;
mod replay;
mod run;
mod runs;
mod tick;

/// `2026-12-01 23:55:49` (UTC) of a Unix time in milliseconds, as the pages show times.
pub use layout::time as utc_time;
pub use layout::TIMELINE_PAGE;
pub use run::render_run_page;

use crate::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use loom_kernel::hash::sha256_hex;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const COOKIE: &str = "loom_session";

/// Sessions at most (a login beyond it drops them all: logging in again is cheap).
const SESSIONS_MAX: usize = 64;

/// The dashboard's wire bookkeeping: the unused login code and the sessions.
pub struct Web {
    /// Whom dashboard decisions are recorded as (the person who started the server).
    user: String,
    /// SHA-256 of the one-time login code, until it is used.
    login_sha256: Mutex<Option<String>>,
    /// Session token SHA-256 → that session's CSRF token.
    sessions: Mutex<HashMap<String, String>>,
}

impl Web {
    pub fn new(user: String, login_code: &str) -> Web {
        Web {
            user,
            login_sha256: Mutex::new(Some(sha256_hex(login_code.as_bytes()))),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The CSRF token of the request's session, if it has one.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let token = cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)?
            .1;
        let sessions = self.sessions.lock().ok()?;
        sessions.get(&sha256_hex(token.as_bytes())).cloned()
    }
}

/// A logged-in request: its CSRF token, for the forms a page renders.
pub(crate) struct Session {
    pub csrf: String,
}

/// The session of `headers`, if it has one.
fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    app.web.session(headers).map(|csrf| Session { csrf })
}

/// The page that says how to log in.
fn login_needed() -> Response {
    layout::error_page(
        StatusCode::UNAUTHORIZED,
        "Log in with the one-time link `loom serve` printed when it started.",
    )
}

/// The pages (reads, under the read timeout).
pub fn pages() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login))
        .route("/runs", get(runs::page))
        .route("/runs/{id}", get(run::page))
        .route("/runs/{id}/ticks/{seq}", get(tick::page))
        .route("/gates", get(gates::page))
        .route("/static/live.js", get(live_js))
        .route("/static/style.css", get(style_css))
}

/// The forms (state-changing, or long: a replay re-executes a whole run).
pub fn forms() -> Router<Arc<App>> {
    Router::new()
        .route("/gates/{gate}/decide", post(gates::decide))
        .route("/runs/{id}/replay", post(replay::run))
        .route("/runs/{id}/fork", post(fork::fork))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    code: Option<String>,
}

async fn login(
    State(app): State<Arc<App>>,
    q: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let code = q.ok().and_then(|Query(q)| q.code).unwrap_or_default();
    let used = {
        let Ok(mut slot) = app.web.login_sha256.lock() else {
            return layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the login state is broken",
            );
        };
        let ok = slot.as_deref() == Some(sha256_hex(code.as_bytes()).as_str());
        if ok {
            *slot = None;
        }
        ok
    };
    if !used {
        return layout::error_page(
            StatusCode::UNAUTHORIZED,
            "This login link is not valid (each link works once).",
        );
    }
    let (Ok(session), Ok(csrf)) = (crate::users::new_token(), crate::users::new_token()) else {
        return layout::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no random bytes for a session",
        );
    };
    if let Ok(mut s) = app.web.sessions.lock() {
        if s.len() >= SESSIONS_MAX {
            s.clear();
        }
        s.insert(sha256_hex(session.as_bytes()), csrf);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/"),
            ),
        ],
    )
        .into_response()
}

/// Runs a read on the blocking pool (readers open SQLite connections); a failure becomes
/// an error page with the status its kind maps to.
async fn read<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&loom_service::Reader) -> loom_service::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let reader = app.handle.reader().clone();
    match tokio::task::spawn_blocking(move || f(&reader)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(layout::error_page(
            crate::problem::status_of(e.kind).0,
            &e.message,
        )),
        Err(e) => Err(layout::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &e.to_string(),
        )),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn live_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/live.js"),
    )
}

async fn style_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    )
}

/// The event stream for the dashboard's script: the same stream, behind the session cookie
/// (an `EventSource` cannot send a bearer token).
pub async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<crate::sse::AfterQuery>, QueryRejection>,
) -> Response {
    if session(&app, &headers).is_none() {
        return login_needed();
    }
    crate::sse::events(State(app), headers, q)
        .await
        .into_response()
}

#[cfg(test)]
mod tests;
