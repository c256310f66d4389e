//! Finding, creating and opening a loom project: a directory with `.loom/loom.db` in it.

use crate::config::{self, Config};
use crate::error::{EngineError, Result};
use loom_kernel::Store;
use std::path::{Path, PathBuf};

pub const DIR: &str = ".loom";
pub const DB: &str = "loom.db";

/// The project whose `.loom` directory is in `start` or the nearest parent.
pub fn find_root(start: &Path) -> Result<PathBuf> {
    let start = start
        .canonicalize()
        .map_err(EngineError::io(format!("cannot read {}", start.display())))?;
    start
        .ancestors()
        .find(|d| d.join(DIR).join(DB).is_file())
        .map(Path::to_path_buf)
        .ok_or(EngineError::NoProject(start))
}

/// What `loom init` did.
#[derive(Debug, serde::Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    pub created_db: bool,
    pub wrote_config: Option<PathBuf>,
}

/// Creates `.loom/` with the database and a commented config in `root`; keeps what exists.
pub fn init(root: &Path) -> Result<InitReport> {
    let dir = root.join(DIR);
    std::fs::create_dir_all(&dir)
        .map_err(EngineError::io(format!("cannot create {}", dir.display())))?;
    // The database and caches are this machine's; the config may be shared through git.
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "loom.db*\ncache/\ntmp/\n").map_err(EngineError::io(format!(
            "cannot write {}",
            ignore.display()
        )))?;
    }
    let db = dir.join(DB);
    let created_db = !db.exists();
    let config = Config::load(root)?;
    Store::open(&db, config.durability)?;
    let mut wrote_config = None;
    if Config::locate(root).is_none() {
        let path = dir.join("config.toml");
        std::fs::write(&path, config::TEMPLATE)
            .map_err(EngineError::io(format!("cannot write {}", path.display())))?;
        wrote_config = Some(path);
    }
    Ok(InitReport {
        root: root.to_path_buf(),
        created_db,
        wrote_config,
    })
}

pub fn db_path(root: &Path) -> PathBuf {
    root.join(DIR).join(DB)
}

/// A scratch directory inside `.loom` for files handed to external tools.
pub fn scratch_dir(root: &Path) -> Result<PathBuf> {
    let dir = root.join(DIR).join("tmp");
    std::fs::create_dir_all(&dir)
        .map_err(EngineError::io(format!("cannot create {}", dir.display())))?;
    Ok(dir)
}
