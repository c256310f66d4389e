//! The API's routes in one table, and its OpenAPI 3.1 document, generated from the
//! handlers' `#[utoipa::path]` descriptions and the view types. The router is built from the
//! table only, so a test can hold the table against the document: every route is
//! described, and every description is routed, with the same methods.

use crate::api::{self, commands, replay, runs};
use crate::{sse, App};
use axum::handler::Handler;
use axum::http::{header, Method};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter};
use std::sync::{Arc, OnceLock};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

/// What a route needs around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// A read: cut off after [`crate::READ_TIMEOUT`].
    Read,
    /// A command with a small JSON body, read in time first ([`crate::BODY_BYTES_MAX`]).
    Write,
    /// A command that takes a component as its body ([`crate::COMPONENT_BYTES_MAX`]).
    Upload,
    /// Long-lived by nature: no timeout.
    Stream,
}

pub(crate) struct ApiRoute {
    pub path: &'static str,
    /// Read by the test that holds the table against the document.
    #[cfg_attr(not(test), allow(dead_code))]
    pub method: Method,
    pub class: Class,
    pub handler: MethodRouter<Arc<App>>,
}

fn route<H, T>(method: Method, path: &'static str, class: Class, h: H) -> ApiRoute
where
    H: Handler<T, Arc<App>>,
    T: 'static,
{
    let filter = match method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        Method::PATCH => MethodFilter::PATCH,
        // The table below is static: a method without a filter is a bug in it, found by the
        // first test that builds a router.
        _ => unreachable!("no route method {method}"),
    };
    ApiRoute {
        path,
        method,
        class,
        handler: axum::routing::on(filter, h),
    }
}

/// Every route under `/api/v1`.
pub(crate) fn api_routes() -> Vec<ApiRoute> {
    use Class::*;
    let get = Method::GET;
    let post = Method::POST;
    vec![
        route(get.clone(), "/api/v1/health", Read, api::health),
        route(get.clone(), "/api/v1/openapi.json", Read, openapi_json),
        route(get.clone(), "/api/v1/status", Read, api::status),
        route(get.clone(), "/api/v1/runs", Read, runs::runs),
        route(get.clone(), "/api/v1/runs/{id}", Read, runs::run),
        route(get.clone(), "/api/v1/runs/{id}/ticks", Read, runs::ticks),
        route(get.clone(), "/api/v1/runs/{id}/ledger", Read, runs::ledger),
        route(
            get.clone(),
            "/api/v1/runs/{id}/attempt",
            Read,
            runs::attempt,
        ),
        route(
            get.clone(),
            "/api/v1/runs/{id}/gates",
            Read,
            runs::run_gates,
        ),
        route(get.clone(), "/api/v1/runs/{id}/facts", Read, runs::facts),
        route(
            get.clone(),
            "/api/v1/runs/{id}/violations",
            Read,
            runs::violations,
        ),
        route(get.clone(), "/api/v1/blobs/{hash}", Read, api::blob),
        route(get.clone(), "/api/v1/gates", Read, api::gates),
        route(get.clone(), "/api/v1/verify", Read, api::verify),
        route(get, "/api/v1/events", Stream, sse::events),
        route(post.clone(), "/api/v1/tasks", Write, commands::start_task),
        route(
            post.clone(),
            "/api/v1/gates/{gate}/decision",
            Write,
            commands::decide,
        ),
        route(post.clone(), "/api/v1/resume", Write, commands::resume),
        route(
            post.clone(),
            "/api/v1/runs/{id}/fork",
            Write,
            commands::fork,
        ),
        route(post.clone(), "/api/v1/abandon", Write, commands::abandon),
        route(post, "/api/v1/replay", Upload, replay::replay),
    ]
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "loom",
        description = "The HTTP API of `loom serve`: one project's runs, gates and events. \
                       Errors are `application/problem+json` (RFC 9457) with the engine's error `kind`."
    ),
    paths(
        api::health,
        openapi_json,
        api::status,
        runs::runs,
        runs::run,
        runs::ticks,
        runs::ledger,
        runs::attempt,
        runs::run_gates,
        runs::facts,
        runs::violations,
        api::blob,
        api::gates,
        api::verify,
        sse::events,
        commands::start_task,
        commands::decide,
        commands::resume,
        commands::fork,
        commands::abandon,
        replay::replay,
    ),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Every request but the health check and this document needs a user's token.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components.get_or_insert_default().add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, rendered once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

/// This document: OpenAPI 3.1 (no token needed).
#[utoipa::path(get, path = "/api/v1/openapi.json", security(()), responses(
    (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"),
))]
pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}
