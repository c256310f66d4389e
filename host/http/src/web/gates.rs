//! The gate inbox: every gate waiting for a decision, with exactly the text the decider is
//! shown, and Approve / Reject-with-reason forms bound to that text's hash (a gate that
//! reopened with other content, or was decided meanwhile, refuses the decision and the page
//! says so). A gate loom opened for an uncertain effect says what may have happened.

use super::layout::{self, Nav};
use super::{login_needed, read, session, App, Session};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use loom_engine::{Decision, Engine, Origin};
use loom_kernel::{Decider, Gate, GateStatus};
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

/// Longest rejection reason taken (the agents read it; the body limit bounds it anyway).
const REASON_BYTES_MAX: usize = 4000;

/// A pending gate with its text and, when a human decides it, the two forms (three when its
/// bundle marks it `editable`: approving with edits starts from exactly the shown text).
pub fn card(g: &Gate, s: &Session, editable: bool) -> Markup {
    let action = format!("/gates/{}/decide", g.id);
    let reason_id = format!("reason-{}-{}", g.run_id, g.id);
    let edit_id = format!("edit-{}-{}", g.run_id, g.id);
    html! {
        section class="gate" data-run=(g.run_id) data-gate=(g.id) aria-labelledby={ "g" (g.id) } {
            header {
                h3 id={ "g" (g.id) } { "gate " (g.name) }
                (layout::badge(g.risk.as_str())) " "
                span class="muted" {
                    "run " a href={ "/runs/" (g.run_id) } { "#" (g.run_id) }
                    " · opened at tick " a href=(super::tick::href(g.run_id, g.opened_tick)) { "#" (g.opened_tick) }
                    " · for a " (g.decider.as_str()) " to decide"
                }
            }
            @if Engine::is_uncertain_gate(g) {
                p class="callout warn" {
                    strong { "Uncertain effect. " }
                    "loom stopped while this effect was running, before its result was recorded: it "
                    "may or may not have happened (a file half written, a command half run). Check the "
                    "working tree. Approve performs it again; Reject ends the run."
                }
            }
            pre class="shown" { (g.summary) }
            p class="muted small" { "Shown text hash " code { (g.shown_hash.get(..12).unwrap_or(&g.shown_hash)) } }
            @if g.decider == Decider::Human {
                div class="decide" {
                    form class="decide" method="post" action=(action) {
                        input type="hidden" name="csrf" value=(s.csrf);
                        input type="hidden" name="shown_hash" value=(g.shown_hash);
                        input type="hidden" name="approved" value="true";
                        button type="submit" class="approve" { "Approve" }
                    }
                    form class="decide reject" method="post" action=(action) {
                        input type="hidden" name="csrf" value=(s.csrf);
                        input type="hidden" name="shown_hash" value=(g.shown_hash);
                        input type="hidden" name="approved" value="false";
                        label for=(reason_id) { "Reason for rejecting (the agents read it)" }
                        textarea id=(reason_id) name="reason" required rows="2" maxlength=(REASON_BYTES_MAX) {}
                        button type="submit" class="reject" { "Reject" }
                    }
                    @if editable {
                        form class="decide edit" method="post" action=(action) {
                            input type="hidden" name="csrf" value=(s.csrf);
                            input type="hidden" name="shown_hash" value=(g.shown_hash);
                            input type="hidden" name="approved" value="true";
                            label for=(edit_id) { "Approve with edits (the record keeps both what was shown and what you approved)" }
                            textarea id=(edit_id) name="edited" required rows="8" { (g.summary) }
                            button type="submit" class="approve" { "Approve edited" }
                        }
                    }
                }
            } @else {
                p class="muted" { "An agent decides this gate; `loom approve --take-over` decides it as a human." }
            }
            p class="outcome" role="status" aria-live="polite" {}
        }
    }
}

/// Pending gates a person may approve with edits, as (run, gate name).
pub type Editable = std::collections::BTreeSet<(u64, String)>;

/// Which of `gates` (pending, decided by a person) their bundles mark editable, as
/// (run, gate name): the bundle of each run is asked once.
pub fn editable_of(r: &loom_service::Reader, gates: &[Gate]) -> loom_service::Result<Editable> {
    let mut out = Editable::new();
    let mut asked = std::collections::BTreeMap::<u64, Vec<String>>::new();
    for g in gates
        .iter()
        .filter(|g| g.status == GateStatus::Pending && g.decider == Decider::Human)
    {
        use std::collections::btree_map::Entry;
        let names = match asked.entry(g.run_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(r.editable_gates(g.run_id)?),
        };
        if names.contains(&g.name) {
            out.insert((g.run_id, g.name.clone()));
        }
    }
    Ok(out)
}

/// [`card`], editable when `editable` lists the gate.
pub fn card_of(g: &Gate, s: &Session, editable: &Editable) -> Markup {
    card(g, s, editable.contains(&(g.run_id, g.name.clone())))
}

fn history(gates: &[Gate]) -> Markup {
    html! {
        div class="scroll" {
            table {
                thead { tr { th { "Gate" } th { "Decision" } th { "By" } th { "Tick" } th { "Reason / note" } } }
                tbody {
                    @for g in gates.iter().rev().filter(|g| g.status != GateStatus::Pending) {
                        tr {
                            td { (g.name) }
                            td { (layout::badge(g.status.as_str())) }
                            td { (g.decided_by.as_deref().unwrap_or("–")) " via " (g.transport.as_deref().unwrap_or("–")) }
                            td { @if let Some(t) = g.decided_tick { a href=(super::tick::href(g.run_id, t)) { "#" (t) } } }
                            td { (g.note.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&app, &headers) else {
        return login_needed();
    };
    let (gates, last, editable) = match read(&app, |r| {
        let st = r.status()?;
        let gates = r.gates(true)?;
        let editable = editable_of(r, &gates)?;
        Ok((
            gates,
            st.run.map(|r| layout::tick_id(r.id, r.last_seq)),
            editable,
        ))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pending: Vec<&Gate> = gates
        .iter()
        .filter(|g| g.status == GateStatus::Pending)
        .collect();
    let body = html! {
        h1 { "Gates" }
        div id="live" data-last=(last.unwrap_or(0)) {}
        @if pending.is_empty() {
            p class="empty" { "Nothing is waiting for a decision." }
        }
        @for g in &pending { (card_of(g, &s, &editable)) }
        @if gates.iter().any(|g| g.status != GateStatus::Pending) {
            h2 { "Decided in this run" }
            (history(&gates))
        }
    };
    layout::page("gates", Nav::Gates, body)
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    shown_hash: String,
    approved: bool,
    reason: Option<String>,
    /// The text approved in place of the shown one (the edit form's).
    edited: Option<String>,
}

/// The answer to a decision: a redirect for a plain form post, or a short JSON for the
/// page's script (which shows it in place, so the page and its live timeline stay).
fn answer(from_script: bool, status: StatusCode, ok: bool, message: &str) -> Response {
    if from_script {
        let body = serde_json::json!({"ok": ok, "message": message});
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    if ok {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/gates")]).into_response()
    } else {
        layout::error_page(status, message)
    }
}

pub async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(gate): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let from_script = headers.get("x-loom-fetch").is_some();
    let s = match session(&app, &headers) {
        Some(s) => s,
        None => {
            return answer(
                from_script,
                StatusCode::UNAUTHORIZED,
                false,
                "log in again (the session is gone)",
            )
        }
    };
    let Ok(Form(f)) = form else {
        return answer(
            from_script,
            StatusCode::BAD_REQUEST,
            false,
            "the form is incomplete",
        );
    };
    if f.csrf != s.csrf {
        return answer(
            from_script,
            StatusCode::FORBIDDEN,
            false,
            "the form is not from this session (reload the page)",
        );
    }
    let note = f.reason.filter(|r| !r.trim().is_empty());
    if note.as_ref().is_some_and(|n| n.len() > REASON_BYTES_MAX) {
        return answer(
            from_script,
            StatusCode::BAD_REQUEST,
            false,
            "the reason is too long",
        );
    }
    let mut d = Decision::new(
        &gate,
        f.approved,
        note.as_deref(),
        Origin::human(app.web.user.clone(), "web"),
    );
    d.shown_hash = Some(f.shown_hash);
    // A browser sends a textarea with CRLF line ends; the edit is the text as typed.
    let edited = f.edited.map(|t| t.replace("\r\n", "\n"));
    let what = match (f.approved, edited.is_some()) {
        (true, true) => "Approved with edits",
        (true, false) => "Approved",
        (false, _) => "Rejected",
    };
    d.edited = edited;
    match app.handle.decide(d).await {
        Ok(run) => answer(
            from_script,
            StatusCode::OK,
            true,
            &format!("{what}; run #{run} goes on below."),
        ),
        Err(e) => answer(
            from_script,
            crate::problem::status_of(e.kind).0,
            false,
            &e.message,
        ),
    }
}
