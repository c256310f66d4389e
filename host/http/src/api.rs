//! The `/api/v1` handlers: each parses, calls the engine handle (or a reader, off the async
//! threads), and renders JSON. None holds state of its own.

use crate::guard::Caller;
use crate::problem::Problem;
use crate::App;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use loom_engine::{Decision, Origin};
use loom_service::Reader;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Ticks one page of `/runs/{id}/ticks` holds at most (the default page is this too).
pub const TICKS_PAGE_MAX: usize = 500;

type ApiResult = Result<Response, Problem>;

/// Runs a read on the blocking pool: the readers open SQLite connections and must not
/// stall the async threads that serve other requests and the event streams.
async fn read<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&Reader) -> loom_service::Result<T> + Send + 'static,
) -> Result<T, Problem> {
    let reader = app.handle.reader().clone();
    tokio::task::spawn_blocking(move || f(&reader))
        .await
        .map_err(|e| Problem::internal(format!("a read failed: {e}")))?
        .map_err(Problem::from)
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Problem> {
    b.map(|Json(t)| t).map_err(|e| {
        Problem::usage(format!(
            "the request body is not what this endpoint takes: {e}"
        ))
    })
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(t)| t)
        .map_err(|e| Problem::usage(format!("bad query: {e}")))
}

/// The origin a command is recorded with: a named user is who they authenticated as; the
/// local CLI names its person itself, as it does when it drives directly.
fn origin(caller: &Caller, asked: Option<String>) -> Origin {
    match caller {
        Caller::User(name) => Origin::human(name.clone(), "http"),
        Caller::LocalCli => Origin::human(
            asked
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "someone".into()),
            "cli",
        ),
    }
}

pub async fn health() -> ApiResult {
    ok(json!({"ok": true}))
}

pub async fn status(State(app): State<Arc<App>>) -> ApiResult {
    ok(read(&app, |r| r.status()).await?)
}

#[derive(Deserialize)]
pub struct TicksQuery {
    /// Ticks after this seq (default: from the first).
    since: Option<u64>,
    limit: Option<usize>,
}

pub async fn ticks(
    State(app): State<Arc<App>>,
    Path(run): Path<u64>,
    q: Result<Query<TicksQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let since = q.since.unwrap_or(0);
    let limit = q.limit.unwrap_or(TICKS_PAGE_MAX).clamp(1, TICKS_PAGE_MAX);
    let log = read(&app, move |r| r.log(Some(run))).await?;
    let page: Vec<_> = log
        .into_iter()
        .filter(|e| e.tick.seq > since)
        .take(limit)
        .collect();
    // `next` is the `since` of the following page; absent when this one was the last.
    let next = (page.len() == limit)
        .then(|| page.last().map(|e| e.tick.seq))
        .flatten();
    ok(json!({"run": run, "ticks": page, "next": next}))
}

pub async fn ledger(State(app): State<Arc<App>>, Path(run): Path<u64>) -> ApiResult {
    ok(read(&app, move |r| r.ledger(run)).await?)
}

pub async fn blob(State(app): State<Arc<App>>, Path(hash): Path<String>) -> ApiResult {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::usage(
            "a blob is named by its 64 hex digit SHA-256",
        ));
    }
    let h = hash.clone();
    match read(&app, move |r| r.blob(&h)).await? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(Problem::not_found(format!("no blob {hash}"))),
    }
}

#[derive(Deserialize)]
pub struct GatesQuery {
    all: Option<bool>,
}

pub async fn gates(
    State(app): State<Arc<App>>,
    q: Result<Query<GatesQuery>, QueryRejection>,
) -> ApiResult {
    let all = query(q)?.all.unwrap_or(false);
    ok(read(&app, move |r| r.gates(all)).await?)
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    run: Option<u64>,
}

pub async fn verify(
    State(app): State<Arc<App>>,
    q: Result<Query<VerifyQuery>, QueryRejection>,
) -> ApiResult {
    let run = query(q)?.run;
    ok(read(&app, move |r| r.verify(run)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    title: String,
    provider: Option<String>,
}

pub async fn start_task(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<NewTask>, JsonRejection>,
) -> ApiResult {
    let t = body(b)?;
    if t.title.trim().is_empty() {
        return Err(Problem::usage("a task needs a title"));
    }
    let run = app
        .handle
        .start(
            &t.title,
            loom_guests::CODE_BUNDLE.to_vec(),
            t.provider,
            origin(&caller, None),
        )
        .await?;
    // Accepted, not done: the engine thread drives the run on; follow it on /events.
    Ok((StatusCode::ACCEPTED, Json(json!({"run": run}))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    approved: bool,
    note: Option<String>,
    /// What the decider was shown (`GET /gates`): required, so a decision never lands on
    /// a gate that reopened with other content.
    shown_hash: Option<String>,
    #[serde(default)]
    take_over: bool,
    /// Who decides: only the local CLI may say (a user is who their token says).
    #[serde(rename = "as")]
    who: Option<String>,
}

pub async fn decide(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(gate): Path<String>,
    b: Result<Json<DecisionBody>, JsonRejection>,
) -> ApiResult {
    let d = body(b)?;
    // The CLI decides on what the gate shows now when not given `--shown`, as it does
    // without a server; a remote client must say what it read.
    if d.shown_hash.is_none() && caller != Caller::LocalCli {
        return Err(Problem::usage(
            "shown_hash is required: the shown hash of the gate text you decide on (GET /api/v1/gates)",
        ));
    }
    let mut decision = Decision::new(&gate, d.approved, d.note.as_deref(), origin(&caller, d.who));
    decision.shown_hash = d.shown_hash;
    decision.take_over = d.take_over;
    let by = decision.origin.who.clone();
    let run = app.handle.decide(decision).await?;
    ok(json!({"run": run, "gate": gate, "approved": d.approved, "by": by}))
}

pub async fn resume(State(app): State<Arc<App>>) -> ApiResult {
    let run = app.handle.resume().await?;
    ok(json!({"run": run}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AbandonBody {
    reason: Option<String>,
    #[serde(rename = "as")]
    who: Option<String>,
}

pub async fn abandon(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<AbandonBody>, JsonRejection>,
) -> ApiResult {
    // An empty body is a plain abandon.
    let a = match b {
        Err(JsonRejection::MissingJsonContentType(_)) => AbandonBody::default(),
        b => body(b)?,
    };
    let report = app.handle.abandon(a.reason, origin(&caller, a.who)).await?;
    let v: Value = serde_json::to_value(&*report).map_err(|e| Problem::internal(e.to_string()))?;
    ok(v)
}
