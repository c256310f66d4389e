//! loom's Python guests, built from source by this crate's build script when componentize-py
//! is installed (see `build.rs`). Each is a path to the component (~19 MB, so not embedded), or
//! why it is absent.

/// Why the Python guests were not built; empty when they were.
const MISSING: &str = env!("LOOM_PY_GUESTS_MISSING");

fn guest(path: &'static str) -> Result<&'static std::path::Path, &'static str> {
    if MISSING.is_empty() {
        Ok(std::path::Path::new(path))
    } else {
        Err(MISSING)
    }
}

/// The incident-response runbook (`bundles/incident`), a `loom:bundle@0.2.0` component.
pub fn incident() -> Result<&'static std::path::Path, &'static str> {
    guest(env!("LOOM_GUEST_INCIDENT"))
}

/// A test guest (`sdk/python/tests/guest/faulty.py`) that raises where its task title says
/// (`raise in next`, `raise in apply`, `raise in check`).
pub fn faulty() -> Result<&'static std::path::Path, &'static str> {
    guest(env!("LOOM_GUEST_PY_FAULTY"))
}

/// The pinned toolchain the guests were built with: (a Python with the SDK's build
/// dependencies, componentize-py), for tests that build a bundle as its author would.
pub fn toolchain() -> Result<(&'static std::path::Path, &'static std::path::Path), &'static str> {
    guest(env!("LOOM_PY_TOOLCHAIN_PYTHON")).map(|python| {
        (
            python,
            std::path::Path::new(env!("LOOM_PY_TOOLCHAIN_COMPONENTIZE")),
        )
    })
}

/// A Python guest for a test: its path; or, when the toolchain is absent, `None` after
/// printing why, and in CI (`CI=true`) a panic, because there it must be present.
pub fn for_test(
    guest: Result<&'static std::path::Path, &'static str>,
) -> Option<&'static std::path::Path> {
    match guest {
        Ok(path) => Some(path),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI builds the Python guests, and {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: {reason}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    /// The guests are components (layer 1), not core modules.
    #[test]
    fn python_guests_are_components() {
        for guest in [super::incident(), super::faulty()] {
            let Some(path) = super::for_test(guest) else {
                return;
            };
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(&bytes[..4], b"\0asm");
            assert_eq!(&bytes[6..8], &[1, 0], "component layer");
        }
    }
}
