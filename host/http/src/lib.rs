//! `loom-http`: the HTTP transport. An axum router over one [`EngineHandle`]: a JSON API
//! under `/api/v1`, the event bus as Server-Sent Events, errors as RFC 9457 problems, and
//! bearer tokens of named users. It parses, calls the handle, renders; the engine thread
//! behind the handle is the only thing that writes.

mod api;
mod guard;
pub mod openapi;
pub mod problem;
pub mod serve_file;
mod server;
mod sse;
pub mod users;
pub mod web;

pub use guard::Caller;
pub use problem::Problem;
pub use serve_file::ServeFile;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use loom_service::EngineHandle;
use openapi::Class;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body: every command fits in a few hundred bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Largest component a request may carry (`POST /replay` with invariants): Python
/// components are about 18 MB.
pub const COMPONENT_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Longest a client may take to send its request body (a slow sender holds a connection).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub use server::{CONNECTIONS_MAX, HEADER_TIMEOUT};

/// How long a client may take to send a request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For its headers ([`HEADER_TIMEOUT`]).
    pub header: Duration,
    /// For a command's body ([`BODY_TIMEOUT`]; six times that for a component).
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: HEADER_TIMEOUT,
            body: BODY_TIMEOUT,
        }
    }
}

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
    /// Places for replays ([`api::replay::REPLAYS_MAX`]).
    replays: Arc<tokio::sync::Semaphore>,
    body_timeout: Duration,
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
    pub timeouts: Timeouts,
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
        replays: Arc::new(tokio::sync::Semaphore::new(api::replay::REPLAYS_MAX)),
        body_timeout: opts.timeouts.body,
    });
    let (mut reads, mut writes, mut uploads, mut streams) =
        (Router::new(), Router::new(), Router::new(), Router::new());
    for r in openapi::api_routes() {
        let group = match r.class {
            Class::Read => &mut reads,
            Class::Write => &mut writes,
            Class::Upload => &mut uploads,
            Class::Stream => &mut streams,
        };
        *group = std::mem::take(group).route(r.path, r.handler);
    }
    let reads =
        reads
            .merge(web::pages())
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                READ_TIMEOUT,
            ));
    let writes = writes
        .merge(web::forms())
        .layer(middleware::from_fn_with_state(
            app.clone(),
            small_body_in_time,
        ));
    let uploads = uploads
        .layer(middleware::from_fn_with_state(
            app.clone(),
            component_in_time,
        ))
        .layer(DefaultBodyLimit::max(COMPONENT_BYTES_MAX));
    // MCP over Streamable HTTP on the same engine, behind the same guard as the API.
    let mcp = loom_mcp::LoomMcp::with_engine(app.handle.clone(), loom_guests::CODE_BUNDLE.to_vec())
        .http_service(mcp_stop(opts.stop.clone()));
    Router::new()
        .merge(reads)
        .merge(writes)
        .merge(uploads)
        .nest_service("/mcp", mcp)
        // Long-lived by nature: no timeout.
        .merge(streams)
        .route("/web/events", get(web::events))
        .fallback(|| async { Problem::not_found("no such endpoint (see /api/v1/openapi.json)") })
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

async fn small_body_in_time(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    body_in_time(req, next, BODY_BYTES_MAX, app.body_timeout).await
}

async fn component_in_time(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    // A component is larger than a command: give it proportionally longer.
    body_in_time(req, next, COMPONENT_BYTES_MAX, app.body_timeout * 6).await
}

/// Reads the whole body within `timeout` (and `max` bytes) before the handler runs, so a
/// slow or endless sender cannot hold a command's connection.
async fn body_in_time(
    req: Request,
    next: Next,
    max: usize,
    timeout: Duration,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, max))
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
                format!("the request body is larger than {max} bytes or broken: {e}"),
            )
        })?;
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open requests
/// (end the event streams first through [`Options::stop`]). Headers must arrive within
/// `timeouts.header`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router, timeouts.header, shutdown).await
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_api;
