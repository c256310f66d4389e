//! loom's JavaScript guests, built from source by this crate's build script when node and
//! componentize-qjs are installed (see `build.rs`). Each is a path to the component, or why it
//! is absent.

use std::path::Path;

/// Why the JavaScript guests were not built; empty when they were.
const MISSING: &str = env!("LOOM_JS_GUESTS_MISSING");

fn guest(path: &'static str) -> Result<&'static Path, &'static str> {
    if MISSING.is_empty() {
        Ok(Path::new(path))
    } else {
        Err(MISSING)
    }
}

/// The JS SDK's example (`sdk/js/example/hello.js`), a `loom:bundle@0.2.0` bundle: a writer
/// drafts a greeting, a human approves it (an editable gate).
pub fn hello() -> Result<&'static Path, &'static str> {
    guest(env!("LOOM_GUEST_JS_HELLO"))
}

/// A test bundle (`sdk/js/test/guest/faulty.js`) that throws where its task title says
/// (`throw in next`, `throw in apply`, `throw in check`) or reads the clock (`read the clock`).
pub fn faulty() -> Result<&'static Path, &'static str> {
    guest(env!("LOOM_GUEST_JS_FAULTY"))
}

/// Team rules for the `code` bundle's runs (`bundles/rules-js/rules.js`), world `invariants`.
pub fn rules() -> Result<&'static Path, &'static str> {
    guest(env!("LOOM_GUEST_JS_RULES"))
}

/// A rule with a bug (`bundles/rules-js/broken.js`), world `invariants`: it throws once the
/// run reaches review.
pub fn rules_broken() -> Result<&'static Path, &'static str> {
    guest(env!("LOOM_GUEST_JS_RULES_BROKEN"))
}

/// The npm prefix holding the pinned componentize-qjs the guests were built with, for tests
/// that build a bundle as its author would.
pub fn toolchain() -> Result<&'static Path, &'static str> {
    guest(env!("LOOM_JS_TOOLCHAIN"))
}

/// A JavaScript guest for a test: its path; or, when the toolchain is absent, `None` after
/// printing why, and in CI (`CI=true`) a panic, because there it must be present.
pub fn for_test(guest: Result<&'static Path, &'static str>) -> Option<&'static Path> {
    match guest {
        Ok(path) => Some(path),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI builds the JavaScript guests, and {reason}")
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
    fn js_guests_are_components() {
        for guest in [
            super::hello(),
            super::faulty(),
            super::rules(),
            super::rules_broken(),
        ] {
            let Some(path) = super::for_test(guest) else {
                return;
            };
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(&bytes[..4], b"\0asm");
            assert_eq!(&bytes[6..8], &[1, 0], "component layer");
        }
    }
}
