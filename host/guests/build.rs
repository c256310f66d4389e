//! Builds loom's guest components from source with a nested `cargo build`.
//!
//! Guests are built, never checked in, so a test always runs the guest the tree describes
//! (the pattern of wasmtime's `crates/test-programs/artifacts/build.rs`). The nested build:
//!
//! - is always `--release`: guests are small, and an optimised guest is what ships;
//! - uses its own target dir inside the outer one (`<target>/guests`), because the outer build
//!   holds the lock on its own dir for as long as this script runs: sharing it would deadlock;
//! - runs with the outer build's leaked configuration removed (rustflags meant for the host,
//!   the outer target dir and target, clippy's rustc wrapper), so it builds the same guests
//!   whether the outer command is `build`, `test`, `clippy` or `doc`.
//!
//! The finished components are copied into `OUT_DIR`, so each outer profile includes its own
//! snapshot even if another profile rebuilds the shared guest dir meanwhile.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const TARGET: &str = "wasm32-wasip2";

/// (package, artifact file stem, env var naming the copied artifact for `src/lib.rs`)
const GUESTS: &[(&str, &str, &str)] = &[
    ("loom-bundle-code", "loom_bundle_code", "LOOM_GUEST_CODE"),
    (
        "loom-bundle-testkit",
        "loom_bundle_testkit",
        "LOOM_GUEST_TESTKIT",
    ),
    (
        "loom-bundle-bad-manifest",
        "loom_bundle_bad_manifest",
        "LOOM_GUEST_BAD_MANIFEST",
    ),
    (
        "loom-rules-human-gates",
        "loom_rules_human_gates",
        "LOOM_GUEST_HUMAN_GATES",
    ),
    (
        "loom-bundle-testkit-v0-1",
        "loom_bundle_testkit_v0_1",
        "LOOM_GUEST_TESTKIT_0_1",
    ),
    ("loom-bundle-hello", "loom_bundle_hello", "LOOM_GUEST_HELLO"),
];

fn main() {
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(var("OUT_DIR"));
    let workspace = manifest_dir.join("../..");
    // The workspace manifest too: its `[workspace.dependencies]` features reach the guests.
    for watched in ["wit", "sdk", "bundles", "Cargo.lock", "Cargo.toml"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    check_target_installed();

    // OUT_DIR is <target>/<profile>/build/loom-guests-<hash>/out (or one level deeper with
    // --target), so four levels up is inside the outer target dir and outside its locked part.
    let guest_target_dir = out_dir.join("../../../../guests");

    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&guest_target_dir);
    for (package, _, _) in GUESTS {
        cmd.arg("-p").arg(package);
    }
    scrub_env(&mut cmd);
    // Line tables are of no use inside a component (traps are reported by function name, from
    // the name section that `debuginfo` stripping keeps) and would triple the guest's size.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");

    eprintln!("running: {cmd:?}");
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) => fail(&format!("could not run cargo for the guest build: {e}")),
    };
    if !status.success() {
        fail(&format!(
            "the nested guest build failed ({status}); its output is above. Run it directly \
             with `cargo build --release --target {TARGET} -p loom-bundle-code -p \
             loom-bundle-testkit -p loom-bundle-bad-manifest -p loom-rules-human-gates -p \
             loom-bundle-testkit-v0-1 -p loom-bundle-hello` to see the errors alone."
        ));
    }

    let built = guest_target_dir.join(TARGET).join("release");
    for (package, stem, env_name) in GUESTS {
        let from = built.join(format!("{stem}.wasm"));
        let to = out_dir.join(format!("{stem}.wasm"));
        if let Err(e) = std::fs::copy(&from, &to) {
            fail(&format!(
                "{package} built, but {} cannot be copied: {e}",
                from.display()
            ));
        }
        println!("cargo:rustc-env={env_name}={}", to.display());
    }
}

/// Fails early with the fix, instead of letting rustc say "can't find crate for `core`".
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let installed = match libdir {
        Ok(out) if out.status.success() => {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Path::new(&dir).is_dir()
        }
        _ => false,
    };
    if !installed {
        fail(&format!(
            "the Rust target {TARGET} is not installed, and loom's guest bundles are built for \
             it; install it with `rustup target add {TARGET}`"
        ));
    }
}

/// Removes what the outer cargo passes to build scripts and would misconfigure the nested one.
fn scrub_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        // Kept: CARGO_HOME (where the registry is) and CARGO_MAKEFLAGS (the jobserver, so the
        // nested build shares the outer build's job limit instead of adding its own).
        let keep = matches!(key, "CARGO_HOME" | "CARGO_MAKEFLAGS");
        let leaks = key.starts_with("CARGO_")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CLIPPY_ARGS"
                    | "CLIPPY_CONF_DIR"
            );
        if leaks && !keep {
            cmd.env_remove(key);
        }
    }
}

fn var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1)
}
