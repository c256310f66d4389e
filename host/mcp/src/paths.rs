//! Files a tool may read: only inside the project, and bounded. A caller is an agent that
//! may have been talked into anything; it names a path, and nothing outside the project's
//! root (through `..`, an absolute path or a symlink) is ever opened.

use loom_engine::ErrorKind;
use loom_service::ServiceError;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Largest component a tool reads (a bundle or an invariants component is a few MiB).
pub const COMPONENT_MAX_BYTES: u64 = 64 << 20;

fn usage(message: String) -> ServiceError {
    ServiceError {
        kind: ErrorKind::Usage,
        message,
    }
}

/// `given` resolved against `root`, with every symlink followed, if it lies inside `root`.
pub fn inside(root: &Path, given: &str) -> Result<PathBuf, ServiceError> {
    let root = root
        .canonicalize()
        .map_err(|e| usage(format!("cannot resolve the project root: {e}")))?;
    let joined = root.join(given);
    let real = joined
        .canonicalize()
        .map_err(|e| usage(format!("cannot read {given}: {e}")))?;
    if !real.starts_with(&root) {
        return Err(usage(format!(
            "{given} is outside the project ({}); tools only read files inside it",
            root.display()
        )));
    }
    Ok(real)
}

/// Reads a component file inside the project, refusing one over [`COMPONENT_MAX_BYTES`].
pub fn read_component(root: &Path, given: &str, what: &str) -> Result<Vec<u8>, ServiceError> {
    let path = inside(root, given)?;
    let file = std::fs::File::open(&path)
        .map_err(|e| usage(format!("cannot read {what} {given}: {e}")))?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "too big" from "exactly at the limit".
    file.take(COMPONENT_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(format!("cannot read {what} {given}: {e}")))?;
    if bytes.len() as u64 > COMPONENT_MAX_BYTES {
        return Err(usage(format!(
            "{what} {given} is over {} MiB",
            COMPONENT_MAX_BYTES >> 20
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_project_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("p");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("b.wasm"), b"x").unwrap();
        std::fs::write(tmp.path().join("secret"), b"s").unwrap();
        assert_eq!(read_component(&root, "b.wasm", "bundle").unwrap(), b"x");
        for bad in ["../secret", tmp.path().join("secret").to_str().unwrap()] {
            let e = read_component(&root, bad, "bundle").unwrap_err();
            assert!(e.message.contains("outside the project"), "{e}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("link")).unwrap();
            let e = read_component(&root, "link", "bundle").unwrap_err();
            assert!(e.message.contains("outside the project"), "{e}");
        }
        let e = read_component(&root, "missing.wasm", "bundle").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
    }
}
