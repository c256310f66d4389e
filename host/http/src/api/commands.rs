//! The commands: start a task, decide a gate, resume, abandon. Each answers once its own
//! tick is committed; the engine thread drives the run on (follow it on `/events`).

use super::{body, ok, origin, ApiResult};
use crate::guard::Caller;
use crate::problem::{Problem, ProblemBody};
use crate::App;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use loom_engine::Decision;
use loom_views as v;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// What should be done.
    title: String,
    /// One provider for every agent role, e.g. `scripted:replies.toml`.
    provider: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunRef {
    run: u64,
}

/// Opens a task with the built-in `code` bundle; the server drives it in the background.
#[utoipa::path(post, path = "/api/v1/tasks", request_body = NewTask, responses(
    (status = 202, body = RunRef, description = "The task is open; its run is driven on"),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
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
    Ok((StatusCode::ACCEPTED, Json(RunRef { run })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    approved: bool,
    note: Option<String>,
    /// What the decider was shown (`GET /gates`): required, so a decision never lands on
    /// a gate that reopened with other content.
    shown_hash: Option<String>,
    #[serde(default)]
    take_over: bool,
    /// An approval with edits: the text approved instead of what the gate shows (a person's
    /// decision, on a gate its bundle marks editable).
    edited: Option<String>,
    /// Who decides: only the local CLI may say (a user is who their token says).
    #[serde(rename = "as")]
    who: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Decided {
    run: u64,
    gate: String,
    approved: bool,
    by: String,
}

/// Approves or rejects a gate (by name or id), bound to the hash of what was shown: a stale
/// hash is refused (409) with nothing recorded.
#[utoipa::path(post, path = "/api/v1/gates/{gate}/decision",
    params(("gate" = String, Path, description = "The gate's name or id")),
    request_body = DecisionBody,
    responses(
        (status = 200, body = Decided),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
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
    decision.edited = d.edited;
    let by = decision.origin.who.clone();
    let run = app.handle.decide(decision).await?;
    ok(Decided {
        run,
        gate,
        approved: d.approved,
        by,
    })
}

/// Sets the open task's stopped run going again (recorded), then drives it.
#[utoipa::path(post, path = "/api/v1/resume", responses(
    (status = 200, body = RunRef),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
pub async fn resume(State(app): State<Arc<App>>) -> ApiResult {
    let run = app.handle.resume().await?;
    ok(RunRef { run })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkBody {
    /// The last tick the fork shares with the run.
    at: u64,
    /// New wording for the task, from the fork point on.
    task: Option<String>,
    /// One provider for every agent role after the fork point.
    provider: Option<String>,
    /// Take the bundle settings from the project's config at the fork point.
    #[serde(default)]
    settings: bool,
    /// Abandon the open task to make room for the fork.
    #[serde(default)]
    replace: bool,
}

/// Forks run `id` after tick `at` (time travel): the fork's ticks up to there re-execute the
/// run's from its record (no provider call, no command), the working tree is taken back to
/// that tick, and the fork goes on live. Answers once the fork tick is committed; the server
/// drives the fork on. A fork with another bundle is the CLI's (`loom fork --bundle`).
#[utoipa::path(post, path = "/api/v1/runs/{id}/fork",
    params(("id" = u64, Path, description = "The run to fork")),
    request_body = ForkBody,
    responses(
        (status = 200, body = RunRef, description = "The fork's run"),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn fork(
    State(app): State<Arc<App>>,
    Path(id): Path<u64>,
    b: Result<Json<ForkBody>, JsonRejection>,
) -> ApiResult {
    let f = body(b)?;
    let request = loom_engine::ForkRequest {
        run: id,
        at: f.at,
        title: f.task,
        provider: f.provider,
        bundle: None,
        settings_from_config: f.settings,
        replace: f.replace,
    };
    let run = app.handle.fork(request).await?;
    ok(RunRef { run })
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbandonBody {
    reason: Option<String>,
    #[serde(rename = "as")]
    who: Option<String>,
}

/// Drops the open task (while a step runs: at its next tick boundary; the step's result is
/// kept in the ledger). An empty body is a plain abandon.
#[utoipa::path(post, path = "/api/v1/abandon", request_body = Option<AbandonBody>, responses(
    (status = 200, body = v::DriveReport),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
pub async fn abandon(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<AbandonBody>, JsonRejection>,
) -> ApiResult {
    let a = match b {
        Err(JsonRejection::MissingJsonContentType(_)) => AbandonBody::default(),
        b => body(b)?,
    };
    let report = app.handle.abandon(a.reason, origin(&caller, a.who)).await?;
    ok(v::DriveReport::from(&*report))
}
