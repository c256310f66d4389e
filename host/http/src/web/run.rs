//! One run: its header (status, phase, bundle, duration, tokens, cost), the gates it waits
//! on, the tick timeline (a page of [`TIMELINE_PAGE`] ticks; the newest page grows live),
//! facts (findings with severity and status), violations with the rows they name, the hash
//! chain's verify status (on asking: it walks every tick) and a Replay button.

use super::layout::{self, Nav, TIMELINE_PAGE};
use super::{gates, login_needed, read, session, tick, App, Session};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use loom_engine::reads::{ChainReport, Family};
use loom_kernel::{Fact, GateStatus};
use loom_service::views::TickPage;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct RunQuery {
    /// The page of ticks before this seq (default: the newest page).
    before: Option<u64>,
    /// Walk the hash chain and show the result.
    verify: Option<bool>,
}

fn finding(run: u64, f: &Fact) -> Markup {
    let v: Value = serde_json::from_str(&f.value).unwrap_or(Value::Null);
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    html! {
        tr {
            td { code { (f.key) } }
            td { (layout::badge(&s("severity"))) }
            td { (layout::badge(&s("status"))) }
            td { (s("path")) }
            td class="title" { (s("text")) }
            td { a href=(tick::href(run, f.tick)) { "#" (f.tick) } }
        }
    }
}

fn facts(page: &TickPage) -> Markup {
    let (findings, other): (Vec<&Fact>, Vec<&Fact>) =
        page.facts.iter().partition(|f| f.kind == "finding");
    let run = page.run.id;
    html! {
        h2 id="facts" { "Facts (" (page.facts.len()) ")" }
        @if !findings.is_empty() {
            div class="scroll" {
                table {
                    caption { "Findings" }
                    thead { tr { th { "Key" } th { "Severity" } th { "Status" } th { "Path" } th { "Finding" } th { "Tick" } } }
                    tbody { @for f in &findings { (finding(run, f)) } }
                }
            }
        }
        @if !other.is_empty() {
            div class="scroll" {
                table {
                    thead { tr { th { "Kind" } th { "Key" } th { "Value" } th { "Tick" } } }
                    tbody {
                        @for f in &other {
                            tr {
                                td { (f.kind) } td { code { (f.key) } }
                                td class="title" { code { (layout::clip(&f.value, 300).0) } }
                                td { a href=(tick::href(run, f.tick)) { "#" (f.tick) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The whole run page (the handler reads `page` and `verify`; the benchmark renders this).
pub fn render_run_page(
    page: &TickPage,
    verify: Option<&[ChainReport]>,
    csrf: &str,
    editable: &gates::Editable,
    family: &Family,
) -> String {
    let s = Session {
        csrf: csrf.to_owned(),
    };
    let run = &page.run;
    let last = page.ticks.last().map_or(layout::tick_id(run.id, 0), |t| {
        layout::tick_id(run.id, t.tick.seq)
    });
    let last_ms = page.ticks.last().map_or(run.created_ms, |t| t.tick.unix_ms);
    let body = html! {
        div id="live" data-last=(last) data-run=(run.id) {}
        p class="crumbs" { a href="/runs" { "Runs" } " › run #" (run.id) }
        h1 { "Run #" (run.id) " " span id="status" data-run=(run.id) { (layout::badge(run.status.as_str())) } }
        p class="lead" { (page.title) }
        @if let Some(p) = &family.parent {
            p class="callout" id="parent" {
                "A fork of " a href={ "/runs/" (p.run) } { "run #" (p.run) } " after tick "
                a href=(tick::href(p.run, p.at)) { "#" (p.at) } ": its ticks 1 to " (p.at)
                " re-execute run #" (p.run) "'s from the record."
            }
        }
        @if !family.children.is_empty() {
            p class="callout" id="forks" {
                "Forks of this run: "
                @for (i, (id, at)) in family.children.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/runs/" (id) } { "run #" (id) } " (after tick #" (at) ")"
                }
            }
        }
        section class="cards" aria-label="Run" {
            div class="card" { div class="label" { "Phase" } div class="value" { (run.phase) } }
            div class="card" { div class="label" { "Ticks" } div class="value" id="nticks" { (run.last_seq) } }
            div class="card" { div class="label" { "Duration" } div class="value" { (layout::duration(last_ms.saturating_sub(run.created_ms))) } }
            div class="card" { div class="label" { "Tokens" } div class="value" { (layout::tokens(&page.usage)) } }
            div class="card" { div class="label" { "Cost" } div class="value" { (layout::cost(&page.usage)) } }
            div class="card" { div class="label" { "Bundle" } div class="value" { (run.bundle_name) " " (run.bundle_version) } }
        }
        @if let Some(why) = &run.stop_reason { p id="why" class="callout warn" { (why) } }
        div id="effect" class="effect" role="status" aria-live="polite" {}
        @for g in page.gates.iter().filter(|g| g.status == GateStatus::Pending) { (gates::card_of(g, &s, editable)) }
        h2 { "Timeline" }
        nav class="pager" aria-label="Timeline pages" {
            @if let Some(b) = page.older { a href={ "?before=" (b) } { "‹ older ticks" } }
            @if !page.newest { a href={ "/runs/" (run.id) } { "newest ticks ›" } }
        }
        ol id="timeline" class="timeline" data-run=(run.id) data-newest=(page.newest) {
            @for t in &page.ticks { (tick::item(t)) }
        }
        @if page.newest && page.ticks.len() >= TIMELINE_PAGE { p class="muted small" { "New ticks appear here as they are committed." } }
        (facts(page))
        h2 id="violations" { "Violations (" (page.violations.len()) ")" }
        @if page.violations.is_empty() { p class="muted" { "No rule was broken." } }
        @for v in &page.violations {
            div class="callout error" {
                strong { (v.rule) } " at tick " a href=(tick::href(run.id, v.seq)) { "#" (v.seq) }
                @if let Some(step) = &v.step { " (step " (step) ")" }
                ": " (v.message)
                @if !v.rows.is_empty() { ul class="rowrefs" { @for r in &v.rows { li { code { (r) } } } } }
            }
        }
        h2 { "Integrity" }
        div class="actions" {
            @match verify {
                Some(reports) => @for r in reports {
                    @match &r.broken {
                        None => p class="callout ok" { "Hash chain intact: " (r.ticks) " ticks verified." },
                        Some(b) => p class="callout error" { "Hash chain broken: " (format!("{b:?}")) },
                    }
                },
                None => form method="get" action={ "/runs/" (run.id) } {
                    input type="hidden" name="verify" value="true";
                    button type="submit" { "Verify the hash chain" }
                },
            }
            form method="post" action={ "/runs/" (run.id) "/replay" } {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" { "Replay this run" }
            }
        }
    };
    layout::shell(&format!("run #{}", run.id), Nav::Runs, body)
}

pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(run): Path<u64>,
    q: Result<Query<RunQuery>, QueryRejection>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return login_needed();
    };
    let (before, verify) = match q {
        Ok(Query(q)) => (q.before, q.verify.unwrap_or(false)),
        Err(_) => (None, false),
    };
    let (page, reports, editable, family) = match read(&app, move |r| {
        let page = r.tick_page(run, before, TIMELINE_PAGE)?;
        let reports = if verify {
            Some(r.verify(Some(run))?)
        } else {
            None
        };
        let editable = gates::editable_of(r, &page.gates)?;
        let family = r.family(run)?;
        Ok((page, reports, editable, family))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    layout::html_response(render_run_page(
        &page,
        reports.as_deref(),
        &s.csrf,
        &editable,
        &family,
    ))
}
