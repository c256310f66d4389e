//! Every run, newest first: status, task, bundle, when, how long, ticks, tokens and cost;
//! `?status=done` (any run status) keeps only those.

use super::layout::{self, Nav};
use super::{login_needed, read, session, App};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use loom_kernel::RunStatus;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct RunsQuery {
    status: Option<String>,
}

pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Response {
    if session(&app, &headers).is_none() {
        return login_needed();
    }
    let asked = q
        .ok()
        .and_then(|Query(q)| q.status)
        .filter(|s| !s.is_empty());
    let filter = match asked.as_deref().map(RunStatus::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            let names: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            return layout::error_page(
                StatusCode::BAD_REQUEST,
                &format!(
                    "no run status {:?}; one of {}",
                    asked.unwrap_or_default(),
                    names.join(", ")
                ),
            );
        }
    };
    let runs = match read(&app, |r| r.run_summaries()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let shown: Vec<_> = runs
        .iter()
        .filter(|r| filter.is_none_or(|f| r.run.status == f))
        .collect();
    let body = html! {
        h1 { "Runs" }
        form class="filter" method="get" action="/runs" {
            label for="status" { "Status" }
            select id="status" name="status" {
                option value="" selected[filter.is_none()] { "any" }
                @for s in RunStatus::ALL {
                    option value=(s.as_str()) selected[filter == Some(*s)] { (s.as_str()) }
                }
            }
            button type="submit" { "Filter" }
            span class="muted" { (shown.len()) " of " (runs.len()) " runs" }
        }
        @if shown.is_empty() {
            p class="empty" { "No runs" @if let Some(f) = filter { " that are " (f.as_str()) } "." }
        } @else {
            div class="scroll" {
                table class="runs" {
                    thead { tr {
                        th scope="col" { "Run" } th scope="col" { "Status" } th scope="col" { "Task" }
                        th scope="col" { "Bundle" } th scope="col" { "Started (UTC)" } th scope="col" { "Duration" }
                        th scope="col" class="num" { "Ticks" } th scope="col" class="num" { "Tokens" } th scope="col" class="num" { "Cost" }
                    } }
                    tbody {
                        @for r in &shown {
                            tr {
                                td { a href={ "/runs/" (r.run.id) } { "#" (r.run.id) } }
                                td { (layout::badge(r.run.status.as_str())) }
                                td class="title" { (r.title) }
                                td { (r.run.bundle_name) " " span class="muted" { (r.run.bundle_version) } }
                                td { (layout::time(r.run.created_ms)) }
                                td { (layout::duration(r.last_ms.saturating_sub(r.run.created_ms))) }
                                td class="num" { (r.run.last_seq) }
                                td class="num" { (r.usage.input_tokens + r.usage.output_tokens) }
                                td class="num" { (layout::cost(&r.usage)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("runs", Nav::Runs, body)
}
