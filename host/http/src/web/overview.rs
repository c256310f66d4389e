//! The overview: the open task, its run (status, phase, cost and tokens so far), the effect
//! running now with its live line, the gates waiting, and the newest ticks as they come.

use super::layout::{self, Nav};
use super::{gates, login_needed, read, session, tick, App};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use std::sync::Arc;

/// Newest ticks the overview shows (the run page has them all).
const RECENT_TICKS: usize = 8;

pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&app, &headers) else {
        return login_needed();
    };
    let (st, recent, editable) = match read(&app, |r| {
        let st = r.status()?;
        let recent = match &st.run {
            Some(run) => Some(r.tick_page(run.id, None, RECENT_TICKS)?),
            None => None,
        };
        let editable = gates::editable_of(r, &st.pending_gates)?;
        Ok((st, recent, editable))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let last = st
        .run
        .as_ref()
        .map_or(0, |r| layout::tick_id(r.id, r.last_seq));
    let body = html! {
        div id="live" data-last=(last) data-run=[st.run.as_ref().map(|r| r.id)] {}
        @match &st.task {
            Some(t) => h1 { span class="muted" { "Task #" (t.id) " · " } (t.title) },
            None => h1 { "No open task" },
        }
        @if st.task.is_none() && st.run.is_some() {
            p class="muted" { "The newest run is shown. Start a task with " code { "loom run \"…\"" } "." }
        }
        @if st.run.is_none() {
            p class="empty" { "No runs yet. Start one with " code { "loom run \"what should be done\"" } "." }
        }
        @if let (Some(run), Some(page)) = (&st.run, &recent) {
            section class="cards" aria-label="Run" {
                div class="card" {
                    div class="label" { "Run" }
                    div class="value" { a href={ "/runs/" (run.id) } { "#" (run.id) } " " span id="status" data-run=(run.id) { (layout::badge(run.status.as_str())) } }
                }
                div class="card" { div class="label" { "Phase" } div class="value" { (run.phase) } }
                div class="card" { div class="label" { "Ticks" } div class="value" id="nticks" { (run.last_seq) } }
                div class="card" { div class="label" { "Tokens" } div class="value" { (layout::tokens(&page.usage)) } }
                div class="card" { div class="label" { "Cost" } div class="value" { (layout::cost(&page.usage)) } }
                div class="card" { div class="label" { "Bundle" } div class="value" { (run.bundle_name) " " (run.bundle_version) } }
            }
            @if let Some(why) = &run.stop_reason {
                p id="why" class="callout warn" { (why) @if let Some(stop) = &st.stop { br; "What to do: " (stop.hint()) } }
            }
            @if let Some(d) = &st.driver {
                p class="muted" { "Driven by " (d.describe()) }
            }
            div id="effect" class="effect" role="status" aria-live="polite" {
                @for u in &st.in_flight {
                    span class="spinner" aria-hidden="true" {}
                    " " strong { (u.step) } " (" (u.kind) ") running since tick #" (u.seq)
                    ", started " (layout::time(u.intent_ms)) " UTC"
                }
            }
            @for u in &st.uncertain {
                p class="callout warn" {
                    "Uncertain effect " code { (u.key) } " (" (u.kind) ", step " (u.step) "): started at tick #" (u.seq)
                    " and never recorded as finished, so it may or may not have happened. "
                    @if u.retry_safe { "It is safe to retry and will be retried on resume." }
                    @else { "A human decides on resume." }
                }
            }
            h2 { "Waiting for you (" (st.pending_gates.len()) ")" }
            @if st.pending_gates.is_empty() { p class="muted" { "No gate is waiting." } }
            @for g in &st.pending_gates { (gates::card_of(g, &s, &editable)) }
            @if !st.violations.is_empty() {
                p class="callout error" {
                    (st.violations.len()) " rule violation(s) in this run; see "
                    a href={ "/runs/" (run.id) "#violations" } { "the run" } "."
                }
            }
            h2 { "Newest ticks" }
            ol id="timeline" class="timeline" data-run=(run.id) data-newest="true" {
                @for t in &page.ticks { (tick::item(t)) }
            }
            p { a href={ "/runs/" (run.id) } { "The whole run ›" } }
        }
    };
    layout::page("overview", Nav::Overview, body)
}
