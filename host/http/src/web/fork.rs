//! "Fork from here" on a tick's page: a new run whose ticks up to that one re-execute the
//! run's from its record (no model is called), then go on live, optionally on another
//! provider, with new wording, or in place of the open task.

use super::layout;
use super::{login_needed, session, App};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct ForkForm {
    csrf: String,
    at: u64,
    provider: Option<String>,
    task: Option<String>,
    /// A checkbox: present ("on") when ticked.
    replace: Option<String>,
}

/// The form on tick `seq` of `run`.
pub fn form(run: u64, seq: u64, csrf: &str) -> Markup {
    html! {
        details class="fork" id="fork" {
            summary { "Fork from here" }
            form method="post" action={ "/runs/" (run) "/fork" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="at" value=(seq);
                p class="muted small" {
                    "A new run whose ticks 1 to " (seq) " re-execute this run's from the record "
                    "(no model is called, no command runs); the working tree goes back to this "
                    "tick, and the fork goes on live from tick " (seq + 1) "."
                }
                label { "Provider for every agent role (empty: as before) "
                    input type="text" name="provider" placeholder="e.g. ollama:llama3.1"; }
                label { "New wording of the task (empty: as before) "
                    input type="text" name="task"; }
                label { input type="checkbox" name="replace"; " Abandon the open task for the fork" }
                button type="submit" { "Fork from tick #" (seq) }
            }
        }
    }
}

fn some(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

pub async fn fork(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(run): Path<u64>,
    form: Result<Form<ForkForm>, FormRejection>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return login_needed();
    };
    let Ok(Form(f)) = form else {
        return layout::error_page(StatusCode::BAD_REQUEST, "the form is incomplete");
    };
    if f.csrf != s.csrf {
        return layout::error_page(
            StatusCode::FORBIDDEN,
            "the form is not from this session (reload the page)",
        );
    }
    let request = loom_engine::ForkRequest {
        run,
        at: f.at,
        title: some(f.task),
        provider: some(f.provider),
        replace: f.replace.is_some(),
        ..Default::default()
    };
    match app.handle.fork(request).await {
        Ok(fork) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/runs/{fork}"))],
        )
            .into_response(),
        Err(e) => layout::error_page(crate::problem::status_of(e.kind).0, &e.message),
    }
}
