//! Builds loom's JavaScript guests from source, with the JS SDK's build command
//! (`sdk/js/bin/loom-bundle-build.js`, which runs componentize-qjs with the flags loom needs),
//! when node and componentize-qjs are installed.
//!
//! componentize-qjs is found in the npm prefix `$LOOM_JS_TOOLS`, or in the pinned one `.ci/run`
//! installs under the target dir (`<target>/js-tools`). Without it (or without node) the
//! guests are left out, the reason is handed to `src/lib.rs`, and the tests that need them say
//! so and skip, except in CI (`CI=true`), where they fail.
//!
//! The components (~2 MB each) are handed to `src/lib.rs` as paths, as the Python ones are:
//! nothing shipped needs them.
//!
//! A build takes seconds per guest, so each is cached under `<target>/guests/js` by a hash of
//! everything it is built from (its directory, the SDK, componentize-qjs's version and this
//! recipe): a build script that reruns for any other reason copies the cached component.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version `.ci/run` installs and the SDK checks for.
const COMPONENTIZE_QJS_VERSION: &str = "0.4.5";

/// (name, the guest's entry module relative to the workspace, env var for `src/lib.rs`). Each
/// is built with its directory, as the SDK's build stages it.
const JS_GUESTS: &[(&str, &str, &str)] = &[
    ("hello", "sdk/js/example/hello.js", "LOOM_GUEST_JS_HELLO"),
    (
        "faulty",
        "sdk/js/test/guest/faulty.js",
        "LOOM_GUEST_JS_FAULTY",
    ),
    ("rules", "bundles/rules-js/rules.js", "LOOM_GUEST_JS_RULES"),
    (
        "rules-broken",
        "bundles/rules-js/broken.js",
        "LOOM_GUEST_JS_RULES_BROKEN",
    ),
];

/// What every guest is built from besides its own directory.
const SHARED_INPUTS: &[&str] = &[
    "sdk/js/src",
    "sdk/js/bin",
    "sdk/js/wit",
    "sdk/js/package.json",
];

/// Never part of a component: the SDK's build leaves them out when it stages a guest's directory.
const SKIPPED: &[&str] = &["node_modules", "test", "tests", ".git"];

fn main() {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) => PathBuf::from(v),
        Err(_) => fail(&format!("cargo did not set {name}")),
    };
    let (manifest_dir, out_dir) = (var("CARGO_MANIFEST_DIR"), var("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/loom-guests-js-<hash>/out: four levels up is the
    // target dir, where .ci/run installs the tools.
    let target_dir = out_dir.join("../../../..");
    if let Err(e) = build(&manifest_dir.join("../.."), &target_dir, &out_dir) {
        fail(&e);
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

fn build(workspace: &Path, target_dir: &Path, out_dir: &Path) -> Result<(), String> {
    let target_dir = &target_dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", target_dir.display()))?;
    for input in SHARED_INPUTS {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    for (_, app, _) in JS_GUESTS {
        let dir = guest_dir(workspace, app)?;
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=LOOM_JS_TOOLS");
    let tools = std::env::var_os("LOOM_JS_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir.join("js-tools"));
    let package = tools.join("node_modules/componentize-qjs/package.json");
    let install = format!(
        "npm install --prefix {} --save-exact componentize-qjs@{COMPONENTIZE_QJS_VERSION}",
        tools.display()
    );
    let Ok(text) = std::fs::read_to_string(&package) else {
        return missing(&format!(
            "the JavaScript guests were not built: componentize-qjs is not installed in {} \
             (install it with `{install}`, as .ci/run does, or set LOOM_JS_TOOLS)",
            tools.display()
        ));
    };
    // The SDK's build checks the version too; checking here keys the cache on the right one.
    let want = format!("\"version\": \"{COMPONENTIZE_QJS_VERSION}\"");
    if !text.contains(&want) {
        return missing(&format!(
            "the JavaScript guests were not built: {} is not componentize-qjs \
             {COMPONENTIZE_QJS_VERSION} (`{install}`)",
            package.display()
        ));
    }
    let node = PathBuf::from("node");
    if Command::new(&node).arg("--version").output().is_err() {
        return missing("the JavaScript guests were not built: `node` is not on PATH");
    }
    let cache = target_dir.join("guests/js");
    std::fs::create_dir_all(&cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    for (name, app, env_name) in JS_GUESTS {
        let key = input_hash(workspace, app, &tools)?;
        let cached = cache.join(format!("{name}-{key:016x}.wasm"));
        if !cached.exists() {
            componentize(workspace, &node, &tools, app, &cached)?;
            prune(&cache, name, &cached);
        }
        let to = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&cached, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", cached.display(), to.display()))?;
        println!("cargo:rustc-env={env_name}={}", to.display());
    }
    // The toolchain itself, for tests that build a bundle the way its author would.
    println!("cargo:rustc-env=LOOM_JS_TOOLCHAIN={}", tools.display());
    println!("cargo:rustc-env=LOOM_JS_GUESTS_MISSING=");
    Ok(())
}

fn guest_dir(workspace: &Path, app: &str) -> Result<PathBuf, String> {
    workspace
        .join(app)
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{app} has no directory"))
}

fn componentize(
    workspace: &Path,
    node: &Path,
    tools: &Path,
    app: &str,
    to: &Path,
) -> Result<(), String> {
    let tmp = to.with_extension("wasm.tmp");
    let mut cmd = Command::new(node);
    cmd.arg(workspace.join("sdk/js/bin/loom-bundle-build.js"))
        .arg(workspace.join(app))
        .arg("-o")
        .arg(&tmp)
        .arg("--tools")
        .arg(tools)
        .arg("-q");
    eprintln!("running: {cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
    if !out.status.success() {
        return Err(format!(
            "building the JavaScript guest {app} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&tmp, to).map_err(|e| format!("cannot move {}: {e}", tmp.display()))
}

/// Older builds of guest `name` are of no further use.
fn prune(cache: &Path, name: &str, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let file = e.file_name();
        // `rules-` also begins `rules-broken-`: the hash after the name is 16 hex digits.
        let ours = file.to_str().is_some_and(|f| {
            f.strip_prefix(&format!("{name}-"))
                .and_then(|rest| rest.strip_suffix(".wasm"))
                .is_some_and(|hash| hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()))
        });
        if ours && path != keep {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The guests are absent: no paths, and the reason.
fn missing(reason: &str) -> Result<(), String> {
    for (_, _, env_name) in JS_GUESTS {
        println!("cargo:rustc-env={env_name}=");
    }
    println!("cargo:rustc-env=LOOM_JS_TOOLCHAIN=");
    println!("cargo:rustc-env=LOOM_JS_GUESTS_MISSING={reason}");
    Ok(())
}

/// FNV-1a over every input file (path and bytes, in path order), the tools' path and this
/// recipe's version: stable across processes and toolchains, unlike std's hasher.
fn input_hash(workspace: &Path, app: &str, tools: &Path) -> Result<u64, String> {
    let mut files = Vec::new();
    for input in SHARED_INPUTS {
        collect(&workspace.join(input), &mut files)?;
    }
    collect(&guest_dir(workspace, app)?, &mut files)?;
    files.sort();
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.feed(COMPONENTIZE_QJS_VERSION.as_bytes());
    h.feed(app.as_bytes());
    h.feed(tools.as_os_str().as_encoded_bytes());
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        h.feed(
            f.strip_prefix(workspace)
                .unwrap_or(&f)
                .as_os_str()
                .as_encoded_bytes(),
        );
        h.feed(&bytes);
    }
    Ok(h.0)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        let skip = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| SKIPPED.contains(&n) || n.ends_with(".wasm"));
        if !skip {
            collect(&p, out)?;
        }
    }
    Ok(())
}

struct Fnv(u64);

impl Fnv {
    fn feed(&mut self, bytes: &[u8]) {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
