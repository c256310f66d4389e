//! loom as an MCP server: tools and resources over the engine service, for an agent in any
//! MCP host (Claude Code, an IDE, the MCP Inspector).
//!
//! An MCP caller is an **agent**: every command carries `Origin::agent(client name, "mcp")`,
//! so the engine itself refuses it a gate the policy gives to a human; `decide_gate` also
//! checks the decider first and says where a person can decide instead. Reads go through a
//! [`Reader`] and never need the driver lock; commands that drive need the project's engine
//! service, which this server starts on first use and keeps for its life. When another
//! process drives the project, every driving tool says so (`busy`) and reads go on working.

mod args;
mod elicit;
mod paths;
mod proxy;
mod render;
mod resources;
mod tools;
mod wait;

pub use args::WAIT_MAX_S;
pub use proxy::relay_stdio;

use loom_engine::ErrorKind;
use loom_service::{EngineHandle, Reader, Service, ServiceError};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Why the server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("cannot serve MCP on stdio: {0}")]
    Transport(String),
}

/// The MCP server of one project.
#[derive(Clone)]
pub struct LoomMcp {
    inner: Arc<Inner>,
    tool_router: ToolRouter<LoomMcp>,
}

struct Inner {
    root: PathBuf,
    reader: Reader,
    /// The bundle a task runs when `start_task` names none (the built-in `code` bundle).
    default_bundle: Arc<Vec<u8>>,
    /// The engine service once this server drives the project. Taken on first use rather
    /// than at launch, so a server started while another process drives becomes a driver as
    /// soon as that process lets go.
    service: Mutex<Option<Service>>,
    /// The engine of the process this server is part of (`loom serve`), when it has one:
    /// then every command goes there and this server never takes the lock itself.
    shared: Option<EngineHandle>,
}

impl LoomMcp {
    /// A server for the project at `root` (an existing loom project). It tries to take the
    /// driver lock at once; if another process holds it, the server still starts and serves
    /// reads, and tries again on each command that drives.
    pub async fn new(root: &Path, default_bundle: Vec<u8>) -> LoomMcp {
        let server = LoomMcp {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                reader: Reader::new(root),
                default_bundle: Arc::new(default_bundle),
                service: Mutex::new(None),
                shared: None,
            }),
            tool_router: Self::tool_router(),
        };
        if let Err(e) = server.engine().await {
            eprintln!("loom mcp: serving reads only for now: {e}");
        }
        server
    }

    /// A server for the project `handle` drives, sharing that engine: the MCP endpoint of a
    /// `loom serve`, beside its HTTP API and dashboard.
    pub fn with_engine(handle: EngineHandle, default_bundle: Vec<u8>) -> LoomMcp {
        let reader = handle.reader().clone();
        LoomMcp {
            inner: Arc::new(Inner {
                root: reader.root().to_path_buf(),
                reader,
                default_bundle: Arc::new(default_bundle),
                service: Mutex::new(None),
                shared: Some(handle),
            }),
            tool_router: Self::tool_router(),
        }
    }

    /// This server as a Streamable HTTP endpoint (both protocol eras: sessions for the
    /// 2025-11-25 handshake, stateless requests for 2026-07-28), to mount at `/mcp`. Each
    /// session gets a clone sharing one engine. `Host`, `Origin` and tokens are the mounting
    /// server's to check (loom serve's guard runs first), so rmcp's own host list is off.
    pub fn http_service(
        &self,
        stop: CancellationToken,
    ) -> StreamableHttpService<LoomMcp, LocalSessionManager> {
        let server = self.clone();
        StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default()
                .disable_allowed_hosts()
                .with_cancellation_token(stop),
        )
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Whether the project asks the person at the client to decide a human's gate (read at
    /// each use, so a change of `[mcp]` takes effect without a restart). A config that does
    /// not load means no: the refusal is the safe side.
    fn elicits_human_gates(&self) -> bool {
        loom_engine::Config::load(&self.inner.root)
            .is_ok_and(|c| c.mcp.human_gates == loom_engine::HumanGates::Elicit)
    }

    fn reader(&self) -> Reader {
        self.inner.reader.clone()
    }

    /// The engine handle, starting the service (and taking the driver lock) if this server
    /// does not drive yet.
    async fn engine(&self) -> Result<EngineHandle, ServiceError> {
        if let Some(shared) = &self.inner.shared {
            return Ok(shared.clone());
        }
        let mut service = self.inner.service.lock().await;
        if let Some(s) = service.as_ref() {
            return Ok(s.handle());
        }
        let root = self.inner.root.clone();
        let started = blocking(move || Service::start(&root, "mcp")).await?;
        let handle = started.handle();
        *service = Some(started);
        Ok(handle)
    }

    /// Stops the engine thread (after what it is driving comes to its next rest).
    pub async fn shutdown(&self) {
        let service = self.inner.service.lock().await.take();
        if let Some(s) = service {
            let _ = tokio::task::spawn_blocking(move || s.shutdown()).await;
        }
    }

    /// Serves MCP on this process's stdin and stdout until the client closes stdin. stdout
    /// carries only protocol messages.
    pub async fn serve_stdio(self) -> Result<(), McpError> {
        use rmcp::ServiceExt as _;
        let running = self
            .clone()
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpError::Transport(e.to_string()))?;
        let ended = running.waiting().await;
        self.shutdown().await;
        ended
            .map(|_| ())
            .map_err(|e| McpError::Transport(e.to_string()))
    }

    fn info() -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("loom", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "loom runs multi-step agent work as a transaction over one SQLite file. Start a \
             task with start_task (it returns at once with the run id; pass wait to follow it \
             with progress), watch it with status, gates and log, read what each effect asked \
             and got with ledger_row. You may decide only gates whose decider is `agent`; a \
             gate for a human is decided by a person (`loom approve GATE`).",
        )
    }
}

/// Runs a blocking read or command off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError {
            kind: ErrorKind::Internal,
            message: format!("a loom task failed: {e}"),
        })?
}

/// The kind's name, as loom's JSON, HTTP problems and exit codes know it.
fn kind_name(k: ErrorKind) -> &'static str {
    loom_views::kind_name(k)
}

/// A tool that ran and failed: `isError: true`, with the message loom's CLI would print, and
/// the kind (which decides the CLI's exit code) in the result's `_meta` as `loom/error`. Not
/// in `structuredContent`: that must match the tool's `outputSchema`, which describes its
/// success (clients such as the MCP Inspector check it on errors too).
fn tool_error(e: &ServiceError) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("error: {}", e.message))]);
    let mut meta = serde_json::Map::new();
    meta.insert(ERROR_META.into(), kind_name(e.kind).into());
    r.meta = Some(rmcp::model::MetaObject(meta));
    r
}

/// The `_meta` key of a failed tool's error kind.
pub const ERROR_META: &str = "loom/error";

/// A tool's success: a short text for the model and the structured result.
fn tool_ok<T: serde::Serialize>(text: String, out: &T) -> CallToolResult {
    match serde_json::to_value(out) {
        Ok(v) => {
            let mut r = CallToolResult::structured(v);
            r.content = vec![ContentBlock::text(text)];
            r
        }
        Err(e) => tool_error(&ServiceError {
            kind: ErrorKind::Internal,
            message: format!("cannot encode the result: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests;
