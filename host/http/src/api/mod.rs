//! The `/api/v1` handlers: each parses, calls the engine handle (or a reader, off the async
//! threads), and renders a view of `loom-views`, the vocabulary `--json` speaks too. None
//! holds state of its own. Each carries its OpenAPI description (`crate::openapi`).

pub mod commands;
pub mod replay;
pub mod runs;

use crate::guard::Caller;
use crate::problem::{Problem, ProblemBody};
use crate::App;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use loom_engine::Origin;
use loom_service::Reader;
use loom_views as v;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type ApiResult = Result<Response, Problem>;

/// Runs a read on the blocking pool: the readers open SQLite connections and must not
/// stall the async threads that serve other requests and the event streams.
pub(crate) async fn read<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&Reader) -> loom_service::Result<T> + Send + 'static,
) -> Result<T, Problem> {
    let reader = app.handle.reader().clone();
    tokio::task::spawn_blocking(move || f(&reader))
        .await
        .map_err(|e| Problem::internal(format!("a read failed: {e}")))?
        .map_err(Problem::from)
}

fn ok(v: impl Serialize) -> ApiResult {
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

/// Views of a list of rows.
fn views<'a, T: 'a, V: From<&'a T>>(rows: &'a [T]) -> Vec<V> {
    rows.iter().map(V::from).collect()
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

/// Bytes as they are (a blob, a component), for the document only.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(#[allow(dead_code)] Vec<u8>);

#[derive(Serialize, ToSchema)]
pub struct Health {
    ok: bool,
}

/// Whether the server answers (no token needed).
#[utoipa::path(get, path = "/api/v1/health", security(()), responses(
    (status = 200, body = Health),
))]
pub async fn health() -> ApiResult {
    ok(Health { ok: true })
}

/// The open task, its run, who drives it, effects in flight or uncertain, pending gates,
/// violations, facts: what `loom status --json` prints.
#[utoipa::path(get, path = "/api/v1/status", responses(
    (status = 200, body = v::Status),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
pub async fn status(State(app): State<Arc<App>>) -> ApiResult {
    let s = read(&app, |r| r.status()).await?;
    ok(v::Status::from(&s))
}

/// A blob's bytes (a rendered prompt, a reply, a diff), by its SHA-256.
#[utoipa::path(get, path = "/api/v1/blobs/{hash}",
    params(("hash" = String, Path, description = "64 hex digits")),
    responses(
        (status = 200, body = Binary, content_type = "application/octet-stream"),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn blob(State(app): State<Arc<App>>, Path(hash): Path<String>) -> ApiResult {
    check_hash(&hash)?;
    let h = hash.clone();
    match read(&app, move |r| r.blob(&h)).await? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(Problem::not_found(format!("no blob {hash}"))),
    }
}

fn check_hash(hash: &str) -> Result<(), Problem> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::usage(
            "a blob is named by its 64 hex digit SHA-256",
        ));
    }
    Ok(())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GatesQuery {
    /// Decided gates too.
    all: Option<bool>,
}

/// Gates of the open run waiting for a decision, each with the hash of what it shows.
#[utoipa::path(get, path = "/api/v1/gates", params(GatesQuery), responses(
    (status = 200, body = Vec<v::Gate>),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
pub async fn gates(
    State(app): State<Arc<App>>,
    q: Result<Query<GatesQuery>, QueryRejection>,
) -> ApiResult {
    let all = query(q)?.all.unwrap_or(false);
    let gates = read(&app, move |r| r.gates(all)).await?;
    ok(views::<_, v::Gate>(&gates))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// One run (default: every run).
    run: Option<u64>,
}

/// Walks the hash chain of one run or every run, as `loom verify --json`.
#[utoipa::path(get, path = "/api/v1/verify", params(VerifyQuery), responses(
    (status = 200, body = Vec<v::ChainReport>),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
pub async fn verify(
    State(app): State<Arc<App>>,
    q: Result<Query<VerifyQuery>, QueryRejection>,
) -> ApiResult {
    let run = query(q)?.run;
    let reports = read(&app, move |r| r.verify(run)).await?;
    ok(views::<_, v::ChainReport>(&reports))
}
