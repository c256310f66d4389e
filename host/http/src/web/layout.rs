//! What every page shares: the shell (header, navigation, the CSP headers), status badges,
//! and the formatting of times, durations, tokens and costs.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use loom_service::views::Usage;
use maud::{html, Markup, DOCTYPE};

/// Ticks one page of a run's timeline holds: a long run pages, so a page renders fast.
pub const TIMELINE_PAGE: usize = 200;

/// Only this server's own files; no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Runs,
    Gates,
    None,
}

/// The HTML of a whole page.
pub fn shell(title: &str, nav: Nav, body: Markup) -> String {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            @if n == nav {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · loom" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "loom" }
                    nav aria-label="Main" {
                        (item(Nav::Overview, "/", "Overview"))
                        (item(Nav::Runs, "/runs", "Runs"))
                        (item(Nav::Gates, "/gates", "Gates"))
                    }
                    span id="conn" class="conn" role="status" aria-live="polite" {}
                }
                main id="main" { (body) }
                // Last, so the page it works on is there when it runs.
                script src="/static/live.js" {}
            }
        }
    }
    .into_string()
}

/// A page as a response, with the security headers every page carries.
pub fn page(title: &str, nav: Nav, body: Markup) -> Response {
    html_response(shell(title, nav, body))
}

/// Rendered HTML as a response, with the security headers every page carries.
pub fn html_response(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Not `no-referrer`: with it a browser sends `Origin: null` on a form post, which
            // the Origin check (rightly) refuses.
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

pub fn error_page(status: StatusCode, detail: &str) -> Response {
    let mut r = page(
        "not done",
        Nav::None,
        html! {
            h1 { "Not done" }
            p class="callout error" role="alert" { (detail) }
            p { a href="/" { "Back to the overview" } }
        },
    );
    *r.status_mut() = status;
    r
}

/// A run or gate status as a coloured badge (the colour is never the only signal: the
/// word is there).
pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (status) } }
}

/// `2026-12-01 23:55:49` (UTC) of a Unix time in milliseconds.
pub fn time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `1h 02m`, `3m 07s`, `4.2s`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{:.1}s", ms as f64 / 1000.0),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

pub fn cost(u: &Usage) -> String {
    match u.cost_usd {
        Some(c) => format!("${c:.4}"),
        None => "–".into(),
    }
}

pub fn tokens(u: &Usage) -> String {
    format!("{} in · {} out", u.input_tokens, u.output_tokens)
}

/// At most `max` bytes of `s` (cut at a character boundary) and whether it was cut.
pub fn clip(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let cut = (0..=max)
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    (&s[..cut], true)
}

/// The id of a tick on the event stream (`run << 32 | seq`), where a page's live updates
/// start from.
pub fn tick_id(run: u64, seq: u64) -> u64 {
    (run << 32) | seq
}
