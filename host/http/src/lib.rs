//! `loom-http`: the HTTP transport. An axum router over one [`EngineHandle`]: a JSON API
//! under `/api/v1`, the event bus as Server-Sent Events, errors as RFC 9457 problems, and
//! bearer tokens of named users. It parses, calls the handle, renders; the engine thread
//! behind the handle is the only thing that writes.

mod api;
mod guard;
pub mod problem;
pub mod serve_file;
mod sse;
pub mod users;
pub mod web;

pub use guard::Caller;
pub use problem::Problem;
pub use serve_file::ServeFile;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use loom_service::EngineHandle;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body: every command fits in a few hundred bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Longest a client may take to send its request body (a slow sender holds a connection).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a read may take. Commands are not cut off: they queue behind the engine thread's
/// current drive, and an answer cut off there would say "failed" of a decision that lands.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the handlers share.
pub struct App {
    handle: EngineHandle,
    root: PathBuf,
    /// `Host` header values that name this server.
    hosts: Vec<String>,
    /// Bound to a non-loopback address on purpose: any `Host` is accepted (tokens guard it).
    public: bool,
    /// SHA-256 of the token in `.loom/serve.json`, for the CLI beside the server.
    local_token_sha256: String,
    /// Turns true when the server stops; event streams end then.
    stop: tokio::sync::watch::Receiver<bool>,
    web: web::Web,
    /// Places for event streams ([`sse::STREAMS_MAX`]).
    streams: Arc<tokio::sync::Semaphore>,
}

/// How the server was started.
pub struct Options {
    pub addr: SocketAddr,
    pub public: bool,
    pub local_token: String,
    /// Set to true to end every event stream (before a graceful shutdown, which waits for
    /// open connections).
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Whom the dashboard's decisions are recorded as.
    pub web_user: String,
    /// The code of the one-time login link (`/login?code=…`).
    pub login_code: String,
}

/// The names a browser or client may use for a server bound to `addr`.
fn hosts_of(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        hosts.extend([
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]);
    }
    hosts
}

/// The router of the API over `handle`, for the project at `handle.reader().root()`.
pub fn router(handle: EngineHandle, opts: &Options) -> Router {
    let app = Arc::new(App {
        root: handle.reader().root().to_path_buf(),
        handle,
        hosts: hosts_of(opts.addr),
        public: opts.public,
        local_token_sha256: loom_kernel::hash::sha256_hex(opts.local_token.as_bytes()),
        stop: opts.stop.clone(),
        web: web::Web::new(opts.web_user.clone(), &opts.login_code),
        streams: Arc::new(tokio::sync::Semaphore::new(sse::STREAMS_MAX)),
    });
    let reads = Router::new()
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/runs/{id}/ticks", get(api::ticks))
        .route("/api/v1/runs/{id}/ledger", get(api::ledger))
        .route("/api/v1/blobs/{hash}", get(api::blob))
        .route("/api/v1/gates", get(api::gates))
        .route("/api/v1/verify", get(api::verify))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            READ_TIMEOUT,
        ));
    let writes = Router::new()
        .route("/api/v1/tasks", post(api::start_task))
        .route("/api/v1/gates/{gate}/decision", post(api::decide))
        .route("/api/v1/resume", post(api::resume))
        .route("/api/v1/abandon", post(api::abandon))
        .merge(web::forms())
        .layer(middleware::from_fn(body_in_time));
    let pages = web::pages().layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        READ_TIMEOUT,
    ));
    // MCP over Streamable HTTP on the same engine, behind the same guard as the API.
    let mcp = loom_mcp::LoomMcp::with_engine(app.handle.clone(), loom_guests::CODE_BUNDLE.to_vec())
        .http_service(mcp_stop(opts.stop.clone()));
    Router::new()
        .merge(reads)
        .merge(writes)
        .merge(pages)
        .nest_service("/mcp", mcp)
        // Long-lived by nature: no timeout.
        .route("/api/v1/events", get(sse::events))
        .route("/web/events", get(web::events))
        .fallback(|| async { Problem::not_found("no such endpoint (see /api/v1/…)") })
        .layer(middleware::from_fn_with_state(app.clone(), guard::check))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(app)
}

/// A token that is cancelled when `stop` turns true, which ends MCP sessions' open streams
/// as [`Options::stop`] ends the event streams (a graceful shutdown would wait for them).
fn mcp_stop(mut stop: tokio::sync::watch::Receiver<bool>) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    // Outside a runtime (a router built only to be inspected) nothing is served to stop.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            cancel.cancel();
        });
    }
    token
}

/// Reads the whole body within [`BODY_TIMEOUT`] (and [`BODY_BYTES_MAX`]) before the
/// handler runs, so a slow or endless sender cannot hold a command's connection.
async fn body_in_time(req: Request, next: Next) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let bytes = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, BODY_BYTES_MAX))
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "Request timeout",
                "the request body did not arrive in time",
            )
        })?
        .map_err(|e| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
                format!("the request body is larger than {BODY_BYTES_MAX} bytes or broken: {e}"),
            )
        })?;
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open requests
/// (end the event streams first through [`Options::stop`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests;
