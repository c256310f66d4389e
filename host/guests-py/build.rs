//! Builds loom's Python guests from source, with the Python SDK's build command
//! (`python -m loom_bundle.build`, which runs componentize-py with the flags loom needs), when
//! componentize-py is installed.
//!
//! componentize-py is found as `$LOOM_COMPONENTIZE_PY`, or in the pinned venv `.ci/run`
//! creates under the target dir (`<target>/py-venv`). Without it the guests are left out, the
//! reason is handed to `src/lib.rs`, and the tests that need them say so and skip, except in CI
//! (`CI=true`), where they fail.
//!
//! The components (~19 MB each) are handed to `src/lib.rs` as paths, not embedded: nothing
//! shipped needs them, and every crate that links this one would carry them.
//!
//! A build takes ~20 s per guest, so each is cached under `<target>/guests/python` by a hash
//! of everything it is built from (its sources, the SDK, the contract, componentize-py's path
//! and this file's recipe): a build script that reruns for any other reason copies the cached
//! component instead.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version `.ci/run` installs and the SDK checks for.
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// (name, the bundle's module or package relative to the workspace, env var for `src/lib.rs`)
const PY_GUESTS: &[(&str, &str, &str)] = &[
    (
        "incident",
        "bundles/incident/incident",
        "LOOM_GUEST_INCIDENT",
    ),
    (
        "faulty",
        "sdk/python/tests/guest/faulty.py",
        "LOOM_GUEST_PY_FAULTY",
    ),
];

/// What every guest is built from besides its own sources.
const SHARED_INPUTS: &[&str] = &["sdk/python/loom_bundle", "wit/0.2.0"];

fn main() {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) => PathBuf::from(v),
        Err(_) => fail(&format!("cargo did not set {name}")),
    };
    let (manifest_dir, out_dir) = (var("CARGO_MANIFEST_DIR"), var("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/loom-guests-py-<hash>/out: four levels up is the
    // target dir, where .ci/run puts the venv.
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
    for input in SHARED_INPUTS
        .iter()
        .chain(PY_GUESTS.iter().map(|(_, app, _)| app))
    {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=LOOM_COMPONENTIZE_PY");
    let venv = target_dir.join("py-venv");
    let exe = std::env::var_os("LOOM_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| venv.join("bin/componentize-py"));
    if !exe.exists() {
        let reason = format!(
            "the Python guests were not built: componentize-py is not at {} (install it with \
             `python3 -m venv {venv} && {venv}/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}`, \
             as .ci/run does, or set LOOM_COMPONENTIZE_PY)",
            exe.display(),
            venv = venv.display()
        );
        return missing(&reason);
    }
    // The SDK's build needs only the standard library; the venv's Python is the pinned one.
    let python = [venv.join("bin/python"), exe.with_file_name("python")]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let cache = target_dir.join("guests/python");
    std::fs::create_dir_all(&cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    for (name, app, env_name) in PY_GUESTS {
        let key = input_hash(workspace, app, &exe)?;
        let cached = cache.join(format!("{name}-{key:016x}.wasm"));
        if !cached.exists() {
            componentize(workspace, &python, &exe, app, &cached)?;
            prune(&cache, name, &cached);
        }
        let to = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&cached, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", cached.display(), to.display()))?;
        println!("cargo:rustc-env={env_name}={}", to.display());
    }
    // The toolchain itself, for tests that build a bundle the way its author would.
    println!(
        "cargo:rustc-env=LOOM_PY_TOOLCHAIN_PYTHON={}",
        python.display()
    );
    println!(
        "cargo:rustc-env=LOOM_PY_TOOLCHAIN_COMPONENTIZE={}",
        exe.display()
    );
    println!("cargo:rustc-env=LOOM_PY_GUESTS_MISSING=");
    Ok(())
}

fn componentize(
    workspace: &Path,
    python: &Path,
    exe: &Path,
    app: &str,
    to: &Path,
) -> Result<(), String> {
    let tmp = to.with_extension("wasm.tmp");
    let mut cmd = Command::new(python);
    cmd.args(["-m", "loom_bundle.build"])
        .arg(workspace.join(app))
        .arg("-o")
        .arg(&tmp)
        .arg("--componentize-py")
        .arg(exe)
        .arg("-q")
        .env("PYTHONPATH", workspace.join("sdk/python"))
        // Bytecode written beside the sources would change the watched dirs and rerun this.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    eprintln!("running: {cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "building the Python guest {app} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&tmp, to).map_err(|e| format!("cannot move {}: {e}", tmp.display()))
}

/// Older builds of guest `name` (18 MB each) are of no further use.
fn prune(cache: &Path, name: &str, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let file = e.file_name();
        let ours = file
            .to_str()
            .is_some_and(|f| f.starts_with(&format!("{name}-")) && f.ends_with(".wasm"));
        if ours && path != keep {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The guests are absent: no paths, and the reason.
fn missing(reason: &str) -> Result<(), String> {
    for (_, _, env_name) in PY_GUESTS {
        println!("cargo:rustc-env={env_name}=");
    }
    println!("cargo:rustc-env=LOOM_PY_TOOLCHAIN_PYTHON=");
    println!("cargo:rustc-env=LOOM_PY_TOOLCHAIN_COMPONENTIZE=");
    println!("cargo:rustc-env=LOOM_PY_GUESTS_MISSING={reason}");
    Ok(())
}

/// FNV-1a over every input file (path and bytes, in path order), componentize-py's path and
/// this recipe's version: stable across processes and toolchains, unlike std's hasher.
fn input_hash(workspace: &Path, app: &str, exe: &Path) -> Result<u64, String> {
    let mut files = Vec::new();
    for input in SHARED_INPUTS.iter().chain([&app]) {
        collect(&workspace.join(input), &mut files)?;
    }
    files.sort();
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.feed(COMPONENTIZE_PY_VERSION.as_bytes());
    h.feed(exe.as_os_str().as_encoded_bytes());
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
            .is_some_and(|n| n == "__pycache__" || n == "tests" || n.ends_with(".pyc"));
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
