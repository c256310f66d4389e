//! Requests for the driver from processes that are not the driver. Abandoning must always be
//! possible, but only the driver writes ticks: a second process leaves an abandon request in
//! `.loom/abandon.json` and the driver records it at its next tick boundary (after the effect
//! in flight, whose result is kept). The request names its run, so one left behind by a crash
//! can never abandon a later task.

use crate::error::{EngineError, Result};
use crate::origin::Origin;
use crate::project;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FILE: &str = "abandon.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonRequest {
    pub run: u64,
    pub reason: String,
    pub origin: Origin,
}

fn path(root: &Path) -> PathBuf {
    root.join(project::DIR).join(FILE)
}

/// Leaves `req` for the driver (atomically: write a temporary file, then rename it).
pub fn post(root: &Path, req: &AbandonRequest) -> Result<()> {
    let text = serde_json::to_string(req).map_err(|e| EngineError::Effect(e.to_string()))?;
    let tmp = root
        .join(project::DIR)
        .join(format!("{FILE}.{}", std::process::id()));
    std::fs::write(&tmp, text)
        .map_err(EngineError::io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path(root)).map_err(EngineError::io(format!(
        "cannot write {}",
        path(root).display()
    )))
}

/// The abandon request for `run`, if one waits. One for another run is left over from a crash
/// and is removed.
pub fn take_for(root: &Path, run: u64) -> Option<AbandonRequest> {
    let p = path(root);
    // A stat per tick boundary: ~1 µs, and nothing when no file is there.
    let text = std::fs::read_to_string(&p).ok()?;
    match serde_json::from_str::<AbandonRequest>(&text) {
        Ok(r) if r.run == run => Some(r),
        _ => {
            let _ = std::fs::remove_file(&p);
            None
        }
    }
}

/// Removes a handled request.
pub fn clear(root: &Path) {
    let _ = std::fs::remove_file(path(root));
}
