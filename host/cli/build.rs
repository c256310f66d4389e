//! Embeds what `loom bundle new` writes: the SDKs (vendored into each scaffold, so a new bundle
//! builds outside any loom checkout) and the example bundles the scaffolds start from. The
//! files are taken from the tree as they are, so a scaffold is exactly what loom's own tests
//! build and run (`bundles/hello`, `sdk/python/example`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// (scaffold language, directory or file relative to the workspace, where it goes in the
/// scaffold)
const SOURCES: &[(&str, &str, &str)] = &[
    ("rust", "sdk/Cargo.toml", "vendor/loom-sdk/Cargo.toml"),
    ("rust", "sdk/README.md", "vendor/loom-sdk/README.md"),
    ("rust", "sdk/src", "vendor/loom-sdk/src"),
    ("rust", "sdk/wit", "vendor/loom-sdk/wit"),
    ("rust", "bundles/hello/src/lib.rs", "src/lib.rs"),
    ("python", "sdk/python/loom_bundle", "loom_bundle"),
    ("python", "sdk/python/example/hello.py", "app.py"),
    ("python", "sdk/python/example/test_hello.py", "test_app.py"),
    (
        "js",
        "sdk/js/package.json",
        "vendor/loom-bundle/package.json",
    ),
    ("js", "sdk/js/README.md", "vendor/loom-bundle/README.md"),
    ("js", "sdk/js/src", "vendor/loom-bundle/src"),
    ("js", "sdk/js/bin", "vendor/loom-bundle/bin"),
    ("js", "sdk/js/wit", "vendor/loom-bundle/wit"),
    ("js", "sdk/js/example/hello.js", "src/app.js"),
    ("js", "sdk/js/example/hello.test.js", "src/app.test.js"),
];

fn main() {
    let manifest_dir = match std::env::var("CARGO_MANIFEST_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => fail("cargo did not set CARGO_MANIFEST_DIR"),
    };
    let out_dir = match std::env::var("OUT_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => fail("cargo did not set OUT_DIR"),
    };
    let workspace = manifest_dir.join("../..");
    let mut code = String::from("&[\n");
    for (lang, from, to) in SOURCES {
        let from = workspace.join(from);
        println!("cargo:rerun-if-changed={}", from.display());
        let mut files = Vec::new();
        collect(&from, Path::new(to), &mut files);
        files.sort();
        for (path, dest) in files {
            let abs = match path.canonicalize() {
                Ok(p) => p,
                Err(e) => fail(&format!("cannot resolve {}: {e}", path.display())),
            };
            let _ = writeln!(
                code,
                "    ({lang:?}, {:?}, include_str!({:?})),",
                dest.to_string_lossy(),
                abs.to_string_lossy()
            );
        }
    }
    code.push_str("]\n");
    if let Err(e) = std::fs::write(out_dir.join("scaffold_files.rs"), code) {
        fail(&format!("cannot write the scaffold file list: {e}"));
    }
}

/// Every file under `from` (or `from` itself), with where it goes under `to`. Bytecode caches
/// and editor leftovers are not part of a scaffold.
fn collect(from: &Path, to: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    if from.is_file() {
        out.push((from.to_owned(), to.to_owned()));
        return;
    }
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) => fail(&format!("cannot read {}: {e}", from.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == "__pycache__"
            || name_str == "node_modules"
            || name_str.starts_with('.')
            || name_str.ends_with(".pyc")
        {
            continue;
        }
        collect(&entry.path(), &to.join(&name), out);
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
