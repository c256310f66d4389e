//! `loom mcp`: the project's MCP server on stdin and stdout, for an MCP host
//! (`claude mcp add loom -- loom mcp`). stdout carries only protocol messages; anything for a
//! person goes to stderr.

use anyhow::{Context, Result};
use std::path::Path;

pub fn run(root: &Path) -> Result<u8> {
    // The engine has its own thread; the protocol needs only a small async runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the MCP server's runtime")?;
    if let Some(live) = loom_http::ServeFile::live(root) {
        // The server drives the project: relay to its MCP endpoint, on its engine.
        let url = format!("http://{}/mcp", live.addr);
        errln!(
            "loom mcp: {} is served by loom serve (pid {}); relaying stdio to {url}",
            root.display(),
            live.pid
        );
        rt.block_on(loom_mcp::relay_stdio(url, live.token))?;
        return Ok(crate::exit::OK);
    }
    rt.block_on(async {
        let server = loom_mcp::LoomMcp::new(root, loom_guests::CODE_BUNDLE.to_vec()).await;
        errln!(
            "loom mcp: serving {} over stdio (close stdin to stop)",
            root.display()
        );
        server.serve_stdio().await
    })?;
    Ok(crate::exit::OK)
}
