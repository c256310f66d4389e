//! The Replay button: re-executes one recorded run from its record exactly as `loom replay`
//! does (no provider, command or patch runs; the database is only read) and shows whether
//! it is identical, or, where it departs, both sides of the first differing tick.

use super::layout::{self, Nav};
use super::{login_needed, read, session, App};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use loom_engine::replay::{replay, ReplayOptions, RunReplay, Runs};
use loom_engine::{project, Config};
use loom_service::views::TickDetail;
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct ReplayForm {
    csrf: String,
}

/// `recorded`: the recorded tick where the replay first departs, when there is one.
fn report(r: &RunReplay, recorded: Option<&TickDetail>) -> Markup {
    html! {
        @if r.identical {
            p class="callout ok big" role="status" {
                strong { "Identical." } " All " (r.replayed_ticks) " ticks were re-executed from the record and reproduced, "
                "tick for tick, in " (r.millis) " ms. No model was called."
            }
        } @else {
            p class="callout error big" role="status" {
                strong { "Differs." } " Replayed " (r.replayed_ticks) " of " (r.recorded_ticks) " recorded ticks."
            }
        }
        @if let Some(d) = &r.divergence {
            h2 { "First difference: tick " a href=(super::tick::href(r.run, d.seq)) { "#" (d.seq) } }
            p { "Step " (d.step.as_deref().unwrap_or("–")) ", in " strong { (d.what) } "." }
            @if let Some(t) = recorded {
                p { "The recorded tick: " span class={ "kind " (t.tick.kind.as_str()) } { (t.tick.kind.as_str()) } " " (t.tick.summary) }
            }
            div class="sides" {
                div { h3 { "Recorded" } pre class="text" { (d.recorded) } }
                div { h3 { "Replayed" } pre class="text" { (d.replayed) } }
            }
        }
        @if !r.firings.is_empty() {
            h2 { "Rules that fire" }
            ul {
                @for f in &r.firings {
                    li {
                        "[" (f.source) "] " strong { (f.rule) } " at tick "
                        a href=(super::tick::href(r.run, f.seq)) { "#" (f.seq) } ": " (f.message)
                        @if !f.rows.is_empty() { " (rows " @for (i, row) in f.rows.iter().enumerate() { @if i > 0 { ", " } code { (row) } } ")" }
                    }
                }
            }
        }
        @for fault in &r.faults { p class="callout warn" { "Rules could not run: " (fault) } }
    }
}

pub async fn run(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(run): Path<u64>,
    form: Result<Form<ReplayForm>, FormRejection>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return login_needed();
    };
    if form.map(|Form(f)| f.csrf != s.csrf).unwrap_or(true) {
        return layout::error_page(
            StatusCode::FORBIDDEN,
            "the form is not from this session (reload the page)",
        );
    }
    let root = app.root.clone();
    // A replay compiles the bundle and re-runs every tick: seconds for a long run, so off
    // the async threads.
    let done = tokio::task::spawn_blocking(move || {
        let config = Config::load(&root)?;
        let opts = ReplayOptions {
            config: Some(config),
            root: Some(root.clone()),
            ..ReplayOptions::default()
        };
        replay(&project::db_path(&root), Runs::One(run), &opts)
    })
    .await;
    let reports = match done {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return layout::error_page(crate::problem::status_of(e.kind()).0, &e.to_string())
        }
        Err(e) => return layout::error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // Each divergence's recorded tick, to show beside what differs (none if it is gone).
    let seqs: Vec<Option<u64>> = reports
        .iter()
        .map(|r| r.divergence.as_ref().map(|d| d.seq))
        .collect();
    let recorded = read(&app, move |reader| {
        Ok(seqs
            .into_iter()
            .map(|s| s.and_then(|seq| reader.tick_detail(run, seq).ok()))
            .collect::<Vec<_>>())
    })
    .await
    .unwrap_or_default();
    let body = html! {
        p class="crumbs" { a href={ "/runs/" (run) } { "Run #" (run) } " › replay" }
        h1 { "Replay of run #" (run) }
        @for (i, r) in reports.iter().enumerate() { (report(r, recorded.get(i).and_then(Option::as_ref))) }
        p { a href={ "/runs/" (run) } { "Back to the run" } }
    };
    layout::page(&format!("replay of run #{run}"), Nav::Runs, body)
}
