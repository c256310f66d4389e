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
mod paths;
mod render;
mod resources;
mod tools;
mod wait;

pub use args::WAIT_MAX_S;

use loom_engine::ErrorKind;
use loom_service::{EngineHandle, Reader, Service, ServiceError};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Mutex;

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
            }),
            tool_router: Self::tool_router(),
        };
        if let Err(e) = server.engine().await {
            eprintln!("loom mcp: serving reads only for now: {e}");
        }
        server
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn reader(&self) -> Reader {
        self.inner.reader.clone()
    }

    /// The engine handle, starting the service (and taking the driver lock) if this server
    /// does not drive yet.
    async fn engine(&self) -> Result<EngineHandle, ServiceError> {
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

/// A tool that ran and failed: `isError: true`, with the message loom's CLI would print and
/// the kind (which decides the CLI's exit code) in `structuredContent`.
fn tool_error(e: &ServiceError) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("error: {}", e.message))]);
    r.structured_content = Some(serde_json::json!({
        "error": kind_name(e.kind),
        "message": e.message,
    }));
    r
}

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
