//! `POST /api/v1/replay`: `loom replay` over HTTP. Re-executes recorded runs from the record
//! (no provider, command or patch runs), compares every tick with the recording, and
//! evaluates an uploaded `invariants` component at every commit point if one is the body.

use super::{ok, query, read, views, ApiResult};
use crate::problem::{Problem, ProblemBody};
use crate::App;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use loom_engine::replay::Runs;
use loom_views as v;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Replays running at once, at most: each holds a CPU for as long as it runs.
pub const REPLAYS_MAX: usize = 1;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// One run (default: the newest).
    run: Option<u64>,
    /// Every run (with `since`: from that run id on).
    all: Option<bool>,
    since: Option<u64>,
    /// Only evaluate the uploaded invariants on the recorded ticks; do not re-execute.
    only: Option<bool>,
    /// Report every tick (as `loom replay --ticks`).
    ticks: Option<bool>,
}

/// Where the first replayed run departs from its recording, both sides.
#[derive(Serialize, ToSchema)]
pub struct FirstDifference {
    run: u64,
    seq: u64,
    step: Option<String>,
    what: String,
    recorded: String,
    replayed: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayAnswer {
    /// Every replayed run reproduced every tick.
    identical: bool,
    /// A rule fired somewhere in the replayed runs.
    fired: bool,
    first_difference: Option<FirstDifference>,
    runs: Vec<v::RunReplay>,
}

/// Replays a run (or every run) and says whether it reproduces its recording; the body, if
/// any, is an `invariants` component to evaluate at every tick.
#[utoipa::path(post, path = "/api/v1/replay", params(ReplayQuery),
    request_body(content = super::Binary, content_type = "application/wasm",
        description = "An `invariants` component (optional)"),
    responses(
        (status = 200, body = ReplayAnswer),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn replay(
    State(app): State<Arc<App>>,
    q: Result<Query<ReplayQuery>, QueryRejection>,
    component: Bytes,
) -> ApiResult {
    let q = query(q)?;
    let runs = match (q.run, q.all.unwrap_or(false)) {
        (Some(_), true) => return Err(Problem::usage("give `run` or `all`, not both")),
        (Some(r), false) => Runs::One(r),
        (None, true) => Runs::All { since: q.since },
        (None, false) => Runs::Latest,
    };
    let invariants = (!component.is_empty()).then(|| component.to_vec());
    let only = q.only.unwrap_or(false);
    if only && invariants.is_none() {
        return Err(Problem::usage(
            "`only` evaluates an invariants component: send one as the body",
        ));
    }
    let _permit = app.replays.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "A replay is running",
            "another replay is running on this server; retry when it is done",
        )
    })?;
    let ticks = q.ticks.unwrap_or(false);
    let reports = read(&app, move |r| r.replay(runs, invariants, only, ticks)).await?;
    let first_difference = reports.iter().find_map(|r| {
        r.divergence.as_ref().map(|d| FirstDifference {
            run: r.run,
            seq: d.seq,
            step: d.step.clone(),
            what: d.what.clone(),
            recorded: d.recorded.clone(),
            replayed: d.replayed.clone(),
        })
    });
    ok(ReplayAnswer {
        identical: reports.iter().all(|r| r.identical),
        fired: reports.iter().any(|r| !r.firings.is_empty()),
        first_difference,
        runs: views(&reports),
    })
}
