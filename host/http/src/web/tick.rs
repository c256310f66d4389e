//! A tick and its ledger rows: the rendered prompt, the reply, the diff (coloured, line by
//! line), the command and its output tail, each failed provider call. The run page shows
//! them clipped inside each timeline entry; `/runs/{id}/ticks/{seq}` shows them in full.

use super::layout::{self, clip, Nav};
use super::{login_needed, read, session, App};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use loom_service::views::{RowDetail, TickDetail};
use maud::{html, Markup};
use std::sync::Arc;

/// Bytes of each text a timeline entry shows (the tick page shows all).
pub const PREVIEW_BYTES: usize = 2000;

/// A unified diff, one element per line with a class for its role. Text only: a line is
/// never parsed as markup.
pub fn diff(text: &str) -> Markup {
    html! {
        pre class="diff" {
            code {
                @for line in text.lines() {
                    @let class = if line.starts_with("+++") || line.starts_with("---")
                        || line.starts_with("diff ") || line.starts_with("index ") {
                        "meta"
                    } else if line.starts_with("@@") {
                        "hunk"
                    } else if line.starts_with('+') {
                        "add"
                    } else if line.starts_with('-') {
                        "del"
                    } else {
                        "ctx"
                    };
                    span class=(class) { (line) } "\n"
                }
            }
        }
    }
}

/// A block of text, clipped to `max` bytes when asked, with a link to all of it.
fn text_block(label: &str, text: &str, max: Option<usize>, full: &str) -> Markup {
    let (shown, cut) = match max {
        Some(m) => clip(text, m),
        None => (text, false),
    };
    html! {
        div class="block" {
            h4 { (label) }
            pre class="text" { (shown) }
            @if cut {
                p class="more" { a href=(full) { "… " (text.len() - shown.len()) " more bytes" } }
            }
        }
    }
}

/// One ledger row with what it holds.
pub fn row(d: &RowDetail, max: Option<usize>, full: &str) -> Markup {
    let r = &d.row;
    html! {
        article class="row" {
            header {
                code { (r.key) } " · attempt " (r.attempt) " · " (r.kind) " "
                (layout::badge(r.status.as_str()))
                @if let Some(role) = &d.role { " · " (role) }
            }
            p class="summary" { (r.summary) }
            @if d.usage.input_tokens + d.usage.output_tokens > 0 || d.usage.cost_usd.is_some() {
                p class="meta" { (layout::tokens(&d.usage)) " · " (layout::cost(&d.usage)) }
            }
            @if let (Some(done), true) = (r.result_ms, r.result_ms >= Some(r.intent_ms)) {
                p class="meta" { "took " (layout::duration(done - r.intent_ms)) }
            }
            @for c in &d.failed_calls {
                p class="callout error" {
                    "Failed call: " (c.provider) " " (c.model) " — " (c.outcome) ": " (c.message)
                }
            }
            @if let Some(p) = &d.prompt { (text_block("Prompt", p, max, full)) }
            @if let Some(reply) = &d.reply { (text_block("Reply", reply, max, full)) }
            @if let Some(t) = &d.diff {
                div class="block" {
                    h4 { "Diff" }
                    @let (shown, cut) = match max { Some(m) => clip(t, m * 4), None => (t.as_str(), false) };
                    (diff(shown))
                    @if cut { p class="more" { a href=(full) { "the whole diff" } } }
                }
            }
            @if let Some(e) = &d.diff_error { p class="callout error" { "Not applied: " (e) } }
            @if let Some(c) = &d.command {
                p class="meta" {
                    "Command " code { (c) }
                    @if let Some(x) = d.exit_code { " exited " (x) }
                }
            }
            @if let Some(o) = &d.output_tail { (text_block("Output (tail)", o, max, full)) }
        }
    }
}

/// The link of a tick's own page.
pub fn href(run: u64, seq: u64) -> String {
    format!("/runs/{run}/ticks/{seq}")
}

/// One timeline entry: the tick's line, opening to its ledger rows.
pub fn item(t: &TickDetail) -> Markup {
    let k = &t.tick;
    let full = href(k.run_id, k.seq);
    let line = html! {
        span class="seq" { "#" (k.seq) }
        span class={ "kind " (k.kind.as_str()) } { (k.kind.as_str()) }
        span class="step" { (k.step.as_deref().unwrap_or("–")) }
        span class="sum" { (k.summary) }
        time class="when" { (layout::time(k.unix_ms)) }
    };
    html! {
        li class="tick" id={ "t" (k.seq) } data-seq=(k.seq) {
            @if t.rows.is_empty() {
                div class="line" {
                    (line) " " a class="open" href=(full) { "open" }
                    " " a class="open" href={ (full) "#fork" } { "fork from here" }
                }
            } @else {
                details {
                    summary class="line" { (line) span class="nrows" { (t.rows.len()) " row" @if t.rows.len() != 1 { "s" } } }
                    div class="rows" {
                        @for d in &t.rows { (row(d, Some(PREVIEW_BYTES), &full)) }
                        p {
                            a href=(full) { "Tick #" (k.seq) " in full" } " · "
                            a href={ (full) "#fork" } { "fork from here" }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((run, seq)): Path<(u64, u64)>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return login_needed();
    };
    let t = match read(&app, move |r| r.tick_detail(run, seq)).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let k = &t.tick;
    let full = href(run, seq);
    let body = html! {
        p class="crumbs" { a href={ "/runs/" (run) } { "Run #" (run) } " › tick #" (seq) }
        h1 { "Tick #" (seq) " " span class={ "kind " (k.kind.as_str()) } { (k.kind.as_str()) } }
        p class="lead" { (k.summary) }
        dl class="facts-grid" {
            dt { "Step" } dd { (k.step.as_deref().unwrap_or("–")) }
            dt { "Decider" } dd { (k.decider.as_deref().unwrap_or("–")) }
            dt { "Time" } dd { (layout::time(k.unix_ms)) " UTC" }
            dt { "Hash" } dd { code class="hash" { (k.hash) } }
            dt { "Previous" } dd { code class="hash" { (k.prev_hash) } }
        }
        nav class="pager" aria-label="Ticks" {
            @if seq > 1 { a href=(href(run, seq - 1)) { "‹ tick #" (seq - 1) } }
            a href=(href(run, seq + 1)) { "tick #" (seq + 1) " ›" }
        }
        (super::fork::form(run, seq, &s.csrf))
        h2 { "Ledger rows (" (t.rows.len()) ")" }
        @if t.rows.is_empty() { p class="muted" { "This tick performed no effect." } }
        @for d in &t.rows { (row(d, None, &full)) }
    };
    layout::page(&format!("tick #{seq} of run #{run}"), Nav::Runs, body)
}
