//! Errors as `application/problem+json` (RFC 9457). The engine's error kind decides the
//! status, exactly as it decides the CLI's exit code, so every transport agrees on what
//! went wrong; the kind is also in the body for clients that branch on it.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use loom_engine::ErrorKind;
use loom_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// A request that did not do what was asked, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{title}: {detail}")]
pub struct Problem {
    pub status: StatusCode,
    /// The engine's error kind (`usage`, `conflict`, …) or the transport's own (`unauthorized`).
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
}

/// An RFC 9457 problem, as sent.
#[derive(Serialize, ToSchema)]
pub struct ProblemBody {
    /// `urn:loom:problem:KIND`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, and what to do.
    pub detail: String,
    /// The engine's error kind (`usage`, `config`, `refused`, `bundle`, `busy`, `conflict`,
    /// `forbidden`, `internal`: the `kind` of `--json` errors too) or the transport's own
    /// (`unauthorized`, `not-found`, `timeout`, `too-large`, `too-many-streams`).
    pub kind: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
        }
    }

    pub fn usage(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "usage", "Bad request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }
}

/// One mapping from the engine's error kinds to HTTP, shared by every endpoint.
pub fn status_of(kind: ErrorKind) -> (StatusCode, &'static str, &'static str) {
    match kind {
        ErrorKind::Usage => (StatusCode::BAD_REQUEST, "usage", "Bad request"),
        ErrorKind::Config => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "config",
            "Configuration error",
        ),
        ErrorKind::Refused => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "Refused by a rule",
        ),
        ErrorKind::Bundle => (StatusCode::UNPROCESSABLE_ENTITY, "bundle", "Bundle error"),
        ErrorKind::Busy => (
            StatusCode::CONFLICT,
            "busy",
            "Another process drives this project",
        ),
        ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict", "Conflict"),
        ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
        ErrorKind::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        ),
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Problem {
        let (status, kind, title) = status_of(e.kind);
        Problem::new(status, kind, title, e.message)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            type_: format!("urn:loom:problem:{}", self.kind),
            title: self.title.into(),
            status: self.status.as_u16(),
            detail: self.detail,
            kind: self.kind.into(),
        };
        let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".into());
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response()
    }
}
