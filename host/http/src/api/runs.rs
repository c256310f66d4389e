//! Runs and what they hold: the list of runs (paged, by status), one run with a page of its
//! ticks, its ledger and one ledger attempt with the texts it rendered and got back, its
//! gates, facts and violations.

use super::{ok, query, read, views, ApiResult};
use crate::problem::{Problem, ProblemBody};
use crate::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use loom_views as v;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Ticks one page of `/runs/{id}/ticks` holds at most (the default page is this too).
pub const TICKS_PAGE_MAX: u32 = 500;

/// Runs one page of `/runs` holds at most.
pub const RUNS_PAGE_MAX: usize = 200;

/// Bytes of a text shown inline in a ledger attempt; the whole is at `/blobs/{hash}`.
pub const CONTENT_BYTES_MAX: usize = 256 * 1024;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only runs with this status (`running`, `waiting`, `stopped`, `done`, `failed`,
    /// `abandoned`).
    status: Option<String>,
    /// Runs older than this run id (the `next` of the previous page).
    before: Option<u64>,
    /// At most this many (default and most: 200).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct RunItem {
    run: v::Run,
    /// The run's task (none only for a damaged database).
    task: Option<v::Task>,
}

#[derive(Serialize, ToSchema)]
pub struct RunsPage {
    /// Newest first.
    runs: Vec<RunItem>,
    /// The `before` of the next page; none when this one was the last.
    next: Option<u64>,
}

/// Every run of the project, newest first, paged, optionally of one status.
#[utoipa::path(get, path = "/api/v1/runs", params(RunsQuery), responses(
    (status = 200, body = RunsPage),
    (status = "default", body = ProblemBody, content_type = "application/problem+json"),
))]
pub async fn runs(
    State(app): State<Arc<App>>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(loom_kernel::RunStatus::parse(s).ok_or_else(|| {
            Problem::usage(format!(
                "no run status {s:?} (running, waiting, stopped, done, failed, abandoned)"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(RUNS_PAGE_MAX).clamp(1, RUNS_PAGE_MAX);
    let before = q.before.unwrap_or(u64::MAX);
    let page = read(&app, move |r| {
        let mut page = Vec::new();
        for run in r.runs()?.into_iter().rev() {
            if run.id >= before || status.is_some_and(|s| run.status != s) {
                continue;
            }
            if page.len() == limit {
                break;
            }
            let task = r.task(run.task_id)?;
            page.push((run, task));
        }
        Ok(page)
    })
    .await?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|(r, _)| r.id))
        .flatten();
    ok(RunsPage {
        runs: page
            .iter()
            .map(|(run, task)| RunItem {
                run: v::Run::from(run),
                task: task.as_ref().map(v::Task::from),
            })
            .collect(),
        next,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicksQuery {
    /// Ticks after this seq (default: from the first).
    since: Option<u64>,
    /// At most this many (default and most: 500).
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct TicksPage {
    run: u64,
    ticks: Vec<v::LogEntry>,
    /// The `since` of the next page; none when this one was the last.
    next: Option<u64>,
}

async fn ticks_page(app: &App, run: u64, q: TicksQuery) -> Result<TicksPage, Problem> {
    let since = q.since.unwrap_or(0);
    let limit = q.limit.unwrap_or(TICKS_PAGE_MAX).clamp(1, TICKS_PAGE_MAX);
    let page = read(app, move |r| r.log_page(run, since, limit)).await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last().map(|e| e.tick.seq))
        .flatten();
    Ok(TicksPage {
        run,
        ticks: views(&page),
        next,
    })
}

/// A page of a run's ticks, each with the ledger rows it committed.
#[utoipa::path(get, path = "/api/v1/runs/{id}/ticks",
    params(("id" = u64, Path, description = "The run"), TicksQuery),
    responses(
        (status = 200, body = TicksPage),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn ticks(
    State(app): State<Arc<App>>,
    Path(run): Path<u64>,
    q: Result<Query<TicksQuery>, QueryRejection>,
) -> ApiResult {
    ok(ticks_page(&app, run, query(q)?).await?)
}

#[derive(Serialize, ToSchema)]
pub struct RunPage {
    run: v::Run,
    task: Option<v::Task>,
    /// Every gate of the run, decided or not.
    gates: Vec<v::Gate>,
    facts: Vec<v::Fact>,
    violations: Vec<v::Violation>,
    /// The first page of its ticks (after `since`).
    ticks: TicksPage,
}

/// One run: its task, gates, facts, violations and a page of its ticks.
#[utoipa::path(get, path = "/api/v1/runs/{id}",
    params(("id" = u64, Path, description = "The run"), TicksQuery),
    responses(
        (status = 200, body = RunPage),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn run(
    State(app): State<Arc<App>>,
    Path(id): Path<u64>,
    q: Result<Query<TicksQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let (run, task, gates, facts, violations) = read(&app, move |r| {
        let run = r.run(id)?;
        let task = r.task(run.task_id)?;
        Ok((run, task, r.run_gates(id)?, r.facts(id)?, r.violations(id)?))
    })
    .await?;
    let ticks = ticks_page(&app, id, q).await?;
    ok(RunPage {
        run: v::Run::from(&run),
        task: task.as_ref().map(v::Task::from),
        gates: views(&gates),
        facts: views(&facts),
        violations: views(&violations),
        ticks,
    })
}

/// The run's ledger: every attempt at every effect.
#[utoipa::path(get, path = "/api/v1/runs/{id}/ledger",
    params(("id" = u64, Path, description = "The run")),
    responses(
        (status = 200, body = Vec<v::LedgerRow>),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn ledger(State(app): State<Arc<App>>, Path(run): Path<u64>) -> ApiResult {
    let rows = read(&app, move |r| r.ledger(run)).await?;
    ok(views::<_, v::LedgerRow>(&rows))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    /// The effect's ledger key, e.g. `r1/plan#1` (URL-encoded).
    key: String,
    /// Which attempt (default: the newest).
    attempt: Option<u32>,
}

/// Stored bytes, as text when they are UTF-8.
#[derive(Serialize, ToSchema)]
pub struct Content {
    /// Its size in bytes.
    bytes: usize,
    /// The text (its first 256 KiB); none for bytes that are not UTF-8.
    text: Option<String>,
    /// The text is cut; the whole is at `/blobs/{hash}`.
    truncated: bool,
}

fn content(bytes: &[u8]) -> Content {
    let cut = bytes.len().min(CONTENT_BYTES_MAX);
    // A cut inside a multi-byte character drops that character, not the text.
    let text = match std::str::from_utf8(&bytes[..cut]) {
        Ok(t) => Some(t.to_owned()),
        Err(e) if cut < bytes.len() && e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()])
                .ok()
                .map(str::to_owned)
        }
        Err(_) => None,
    };
    Content {
        bytes: bytes.len(),
        text,
        truncated: cut < bytes.len(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct Attempt {
    row: v::LedgerRow,
    /// What was sent: the rendered prompt, the command, the patch.
    request: Option<Content>,
    /// What came back: the reply, the diff, the command's output.
    result: Option<Content>,
}

/// One attempt at an effect, with the texts it rendered and got back.
#[utoipa::path(get, path = "/api/v1/runs/{id}/attempt",
    params(("id" = u64, Path, description = "The run"), AttemptQuery),
    responses(
        (status = 200, body = Attempt),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn attempt(
    State(app): State<Arc<App>>,
    Path(run): Path<u64>,
    q: Result<Query<AttemptQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let key = q.key.clone();
    let found = read(&app, move |r| {
        let rows = r.attempts(run, &key)?;
        let Some(row) = (match q.attempt {
            Some(a) => rows.into_iter().find(|l| l.attempt == a),
            None => rows.into_iter().max_by_key(|l| l.attempt),
        }) else {
            return Ok(None);
        };
        let request = match &row.request_hash {
            Some(h) => r.blob(h)?,
            None => None,
        };
        let result = r.result(run, &row.key, row.attempt)?;
        Ok(Some((row, request, result)))
    })
    .await?;
    let Some((row, request, result)) = found else {
        return Err(Problem::not_found(format!(
            "run #{run} has no such attempt at {:?}",
            q.key
        )));
    };
    ok(Attempt {
        row: v::LedgerRow::from(&row),
        request: request.as_deref().map(content),
        result: result.as_deref().map(content),
    })
}

/// Every gate of a run, decided or not.
#[utoipa::path(get, path = "/api/v1/runs/{id}/gates",
    params(("id" = u64, Path, description = "The run")),
    responses(
        (status = 200, body = Vec<v::Gate>),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn run_gates(State(app): State<Arc<App>>, Path(run): Path<u64>) -> ApiResult {
    let gates = read(&app, move |r| r.run_gates(run)).await?;
    ok(views::<_, v::Gate>(&gates))
}

/// The records a run's bundle keeps (findings with severity and status, plans, …).
#[utoipa::path(get, path = "/api/v1/runs/{id}/facts",
    params(("id" = u64, Path, description = "The run")),
    responses(
        (status = 200, body = Vec<v::Fact>),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn facts(State(app): State<Arc<App>>, Path(run): Path<u64>) -> ApiResult {
    let facts = read(&app, move |r| r.facts(run)).await?;
    ok(views::<_, v::Fact>(&facts))
}

/// The rules that refused a run's ticks, with the rows they named.
#[utoipa::path(get, path = "/api/v1/runs/{id}/violations",
    params(("id" = u64, Path, description = "The run")),
    responses(
        (status = 200, body = Vec<v::Violation>),
        (status = "default", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn violations(State(app): State<Arc<App>>, Path(run): Path<u64>) -> ApiResult {
    let rows = read(&app, move |r| r.violations(run)).await?;
    ok(views::<_, v::Violation>(&rows))
}
