//! `.loom/serve.json`: where a running `loom serve` listens, its pid, and a token for the
//! CLI on the same machine (the file is the owner's only, mode 0600). The CLI forwards its
//! driving commands there while that server lives; a file left by a killed server is
//! recognised as stale (its pid no longer holds the driver lock) and blocks nothing.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SERVE_FILE: &str = "serve.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeFile {
    /// The bound address, e.g. `127.0.0.1:7700`.
    pub addr: String,
    pub pid: u32,
    /// A token valid for this server's life, for the local CLI.
    pub token: String,
}

pub fn serve_path(root: &Path) -> PathBuf {
    root.join(loom_engine::project::DIR).join(SERVE_FILE)
}

impl ServeFile {
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::users::write_private(&serve_path(root), &json)
    }

    /// The server of the project at `root`, if one is alive: the file names a pid and that
    /// pid holds the driver lock right now.
    pub fn live(root: &Path) -> Option<ServeFile> {
        let text = std::fs::read_to_string(serve_path(root)).ok()?;
        let f: ServeFile = serde_json::from_str(&text).ok()?;
        let holder = loom_engine::lock::holder(root)?;
        (holder.pid == f.pid).then_some(f)
    }

    /// Removes the file if it is this process's (a newer server's file is left alone).
    pub fn remove_own(root: &Path) {
        let path = serve_path(root);
        let mine = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<ServeFile>(&t).ok())
            .is_some_and(|f| f.pid == std::process::id());
        if mine {
            let _ = std::fs::remove_file(path);
        }
    }
}
