//! A small server-rendered dashboard: the overview (open task, run, pending gates with
//! their text), a gate inbox with Approve / Reject forms bound to the shown hash, and a
//! run page whose timeline updates live from a static script. maud escapes everything it
//! renders, so a reply or a title holding markup is shown as text.
//!
//! Login is by a one-time link printed at start: it sets an HttpOnly, SameSite=Strict
//! session cookie. Every form carries the session's CSRF token (besides the Origin check
//! every state-changing request passes), and pages are served with a Content-Security-Policy
//! that allows only this server's own script.

use crate::App;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use loom_engine::{Decision, Origin};
use loom_kernel::hash::sha256_hex;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const COOKIE: &str = "loom_session";

/// Only this server's own files; no inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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

fn page(title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) " · loom" } }
            body { (body) }
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html.into_string(),
    )
        .into_response()
}

fn error_page(status: StatusCode, detail: &str) -> Response {
    let mut r = page(
        "error",
        html! { h1 { "Not done" } p { (detail) } p { a href="/" { "back" } } },
    );
    *r.status_mut() = status;
    r
}

fn login_needed() -> Response {
    error_page(
        StatusCode::UNAUTHORIZED,
        "log in with the one-time link `loom serve` printed when it started",
    )
}

#[derive(Deserialize)]
pub struct LoginQuery {
    code: Option<String>,
}

pub async fn login(
    State(app): State<Arc<App>>,
    q: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let code = q.ok().and_then(|Query(q)| q.code).unwrap_or_default();
    let used = {
        let Ok(mut slot) = app.web.login_sha256.lock() else {
            return error_page(
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
        return error_page(
            StatusCode::UNAUTHORIZED,
            "this login link is not valid (each link works once)",
        );
    }
    let (Ok(session), Ok(csrf)) = (crate::users::new_token(), crate::users::new_token()) else {
        return error_page(
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

async fn read<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&loom_service::Reader) -> loom_service::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let reader = app.handle.reader().clone();
    match tokio::task::spawn_blocking(move || f(&reader)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(error_page(crate::problem::status_of(e.kind).0, &e.message)),
        Err(e) => Err(error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &e.to_string(),
        )),
    }
}

pub async fn overview(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(csrf) = app.web.session(&headers) else {
        return login_needed();
    };
    let s = match read(&app, |r| r.status()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "loom" }
        @match &s.task {
            Some(t) => p { "Open task #" (t.id) ": " strong { (t.title) } },
            None => p { "No open task." },
        }
        @if let Some(r) = &s.run {
            p { "Run " a href={ "/runs/" (r.id) } { "#" (r.id) } ": " (r.status.as_str()) }
        }
        h2 { "Gates waiting (" (s.pending_gates.len()) ")" }
        @for g in &s.pending_gates {
            section {
                h3 { "gate " (g.name) " (id " (g.id) ", risk " (g.risk.to_string()) ", for a " (g.decider.to_string()) ")" }
                pre { (g.summary) }
                p { "shown " code { (g.shown_hash) } }
                form method="post" action={ "/gates/" (g.id) "/decide" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="shown_hash" value=(g.shown_hash);
                    input type="hidden" name="approved" value="true";
                    button type="submit" { "Approve" }
                }
                form method="post" action={ "/gates/" (g.id) "/decide" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="shown_hash" value=(g.shown_hash);
                    input type="hidden" name="approved" value="false";
                    input type="text" name="reason" required placeholder="why (the agents read it)";
                    button type="submit" { "Reject" }
                }
            }
        }
    };
    page("overview", body)
}

pub async fn run_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(run): Path<u64>,
) -> Response {
    if app.web.session(&headers).is_none() {
        return login_needed();
    }
    let (log, status) = match read(&app, move |r| {
        let status = r.status()?;
        Ok((r.log(Some(run))?, status))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let state = status
        .run
        .as_ref()
        .filter(|r| r.id == run)
        .map_or("-", |r| r.status.as_str());
    let last = log.last().map_or(0, |e| (e.tick.run_id << 32) | e.tick.seq);
    let body = html! {
        p { a href="/" { "overview" } }
        h1 { "Run #" (run) ": " span id="status" { (state) } }
        ol id="timeline" data-run=(run) data-last=(last) {
            @for e in &log {
                li { "#" (e.tick.seq) " " (e.tick.kind.as_str()) " " (e.tick.step.as_deref().unwrap_or("-")) ": " (e.tick.summary) }
            }
        }
        script src="/static/live.js" {}
    };
    page(&format!("run #{run}"), body)
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    shown_hash: String,
    approved: bool,
    reason: Option<String>,
}

pub async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(gate): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let Some(csrf) = app.web.session(&headers) else {
        return login_needed();
    };
    let Ok(Form(f)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "the form is incomplete");
    };
    if f.csrf != csrf {
        return error_page(
            StatusCode::FORBIDDEN,
            "the form is not from this session (reload the page)",
        );
    }
    let note = f.reason.filter(|r| !r.trim().is_empty());
    let mut d = Decision::new(
        &gate,
        f.approved,
        note.as_deref(),
        Origin::human(app.web.user.clone(), "web"),
    );
    d.shown_hash = Some(f.shown_hash);
    match app.handle.decide(d).await {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
        Err(e) => error_page(crate::problem::status_of(e.kind).0, &e.message),
    }
}

pub async fn live_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../static/live.js"),
    )
        .into_response()
}

/// The event stream for the dashboard's script: the same stream, behind the session cookie
/// (an `EventSource` cannot send a bearer token).
pub async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<crate::sse::AfterQuery>, QueryRejection>,
) -> Response {
    if app.web.session(&headers).is_none() {
        return login_needed();
    }
    crate::sse::events(State(app), headers, q)
        .await
        .into_response()
}
