//! `loom bundle new` as a bundle author meets it: a scaffold written outside any loom
//! checkout, whose own tests pass and whose component builds, checks and runs to its gate and
//! past it, by the commands its README gives.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd` in `dir`, asserting it succeeds, and returns what it printed.
#[track_caller]
fn run_ok(cmd: &mut Command, dir: &Path) -> String {
    let o = cmd.current_dir(dir).output().expect("start the command");
    let t = text(&o);
    assert!(o.status.success(), "{cmd:?} failed:\n{t}");
    t
}

/// A new scaffold in a fresh temporary directory (outside the checkout), and that directory.
fn scaffold(name: &str, lang: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    let t = expect_code(
        &loom(
            tmp.path(),
            &[
                "bundle",
                "new",
                name,
                "--lang",
                lang,
                "--dir",
                dir.to_str().unwrap(),
            ],
        ),
        0,
    );
    assert!(
        t.contains(&format!("created the {lang} bundle `{name}`")),
        "{t}"
    );
    (tmp, dir)
}

/// `loom bundle check` accepts it, then a run reaches the gate, is approved and finishes.
fn check_and_run(dir: &Path, wasm: &str) {
    let t = expect_code(&loom(dir, &["bundle", "check", wasm]), 0);
    assert!(t.contains("loom:bundle@0.2.0"), "{t}");
    let t = expect_code(&loom(dir, &["run", "the loom team", "--bundle", wasm]), 10);
    assert!(t.contains("approve"), "{t}");
    let t = expect_code(&loom(dir, &["gates"]), 0);
    assert!(t.contains("Hello from a scripted writer!"), "{t}");
    expect_code(&loom(dir, &["approve", "approve"]), 0);
    let status = status_json(dir);
    assert_eq!(status["run"]["status"], "done", "{status}");
}

#[test]
fn a_rust_scaffold_tests_builds_checks_and_runs_outside_the_checkout() {
    let (_tmp, dir) = scaffold("greeter-one", "rust");
    assert!(dir.join("vendor/loom-sdk/wit/bundle.wit").exists());
    // One target dir for every run of this test: the scaffold's dependencies build once.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-rust");
    let cargo = |args: &[&str]| {
        let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        c.args(args)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        c
    };
    let t = run_ok(&mut cargo(&["test", "--quiet"]), &dir);
    assert!(t.contains("test result: ok"), "{t}");
    run_ok(
        &mut cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"]),
        &dir,
    );
    let wasm = target.join("wasm32-wasip2/release/greeter_one.wasm");
    assert!(wasm.exists(), "{} was not built", wasm.display());
    check_and_run(&dir, wasm.to_str().unwrap());
}

#[test]
fn a_python_scaffold_tests_builds_checks_and_runs_outside_the_checkout() {
    let Some(python) = loom_guests_py::for_test(loom_guests_py::toolchain().map(|(p, _)| p)) else {
        return;
    };
    let Ok((_, componentize)) = loom_guests_py::toolchain() else {
        return;
    };
    let (_tmp, dir) = scaffold("greeter-two", "python");
    let t = run_ok(
        Command::new(python)
            .args(["-m", "unittest", "-v"])
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        &dir,
    );
    assert!(t.contains("OK"), "{t}");
    run_ok(
        Command::new(python)
            .args([
                "-m",
                "loom_bundle.build",
                "app.py",
                "-o",
                "greeter-two.wasm",
            ])
            .arg("--componentize-py")
            .arg(componentize)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        &dir,
    );
    check_and_run(&dir, "greeter-two.wasm");
}

#[test]
fn a_bad_name_or_a_used_directory_is_a_usage_error_that_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = expect_code(
        &loom(
            tmp.path(),
            &["bundle", "new", "My_Bundle", "--lang", "rust"],
        ),
        2,
    );
    assert!(t.contains("`My_Bundle` cannot name a bundle"), "{t}");
    assert!(!tmp.path().join("My_Bundle").exists());

    let used = tmp.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("notes.txt"), "mine").unwrap();
    let t = expect_code(
        &loom(
            tmp.path(),
            &["bundle", "new", "fine", "--lang", "python", "--dir", "used"],
        ),
        2,
    );
    assert!(t.contains("exists and is not empty"), "{t}");
    let left: Vec<_> = std::fs::read_dir(&used).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "nothing is written beside the user's file");
    assert_eq!(
        std::fs::read_to_string(used.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_js_scaffold_tests_builds_checks_and_runs_outside_the_checkout() {
    let Some(tools) = loom_guests_js::for_test(loom_guests_js::toolchain()) else {
        return;
    };
    let (_tmp, dir) = scaffold("greeter-three", "js");
    // The SDK is a `file:` dependency, linked from the scaffold itself. The componentizer comes
    // from the pinned tools CI installed (a user's `npm install` fetches the same version).
    let npm = |args: &[&str]| {
        let mut c = Command::new("npm");
        c.args(args)
            .args(["--no-audit", "--no-fund", "--loglevel=error"])
            .env("LOOM_JS_TOOLS", tools);
        c
    };
    run_ok(
        &mut npm(&["install", "--omit=dev", "--prefer-offline"]),
        &dir,
    );
    let t = run_ok(&mut npm(&["test"]), &dir);
    assert!(t.contains("# fail 0"), "{t}");
    run_ok(&mut npm(&["run", "build"]), &dir);
    check_and_run(&dir, "greeter-three.wasm");
}
