//! The contract's versions and what 0.2.0 adds, through the real binary: a 0.1.0 bundle runs
//! and replays on a host that also binds 0.2.0, a 0.2.0 bundle's failure reaches the stop
//! reason, and a bundle's needs are checked before a task opens.

use crate::common::*;
use std::path::Path;

fn write_scripted_worker(dir: &Path) {
    std::fs::write(
        dir.join("replies.toml"),
        "[[reply]]\nrole = \"worker\"\ntext = \"all done\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "default_chain = [\"scripted:replies.toml\"]\n",
    )
    .unwrap();
}

#[test]
fn a_0_1_bundle_runs_end_to_end_and_replays_beside_a_0_2_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, testkit) = testkit_project(tmp.path());
    let legacy = tmp.path().join("testkit-0.1.wasm");
    std::fs::write(&legacy, loom_guests::TESTKIT_0_1).unwrap();
    write_scripted_worker(&dir);
    for bundle in [&legacy, &testkit] {
        let b = bundle.to_str().unwrap();
        let out = expect_code(&loom(&dir, &["run", "--bundle", b, "tidy up"]), 10);
        assert!(out.contains("finish"), "{out}");
        expect_code(&loom(&dir, &["approve", "finish"]), 0);
        let s = status_json(&dir);
        assert_eq!(s["run"]["status"], "done", "{s}");
    }
    // Both runs, each with its own bundle as the database stored it, replay tick for tick.
    assert_replays_identically(&dir);
    let o = loom(&dir, &["bundle", "check", legacy.to_str().unwrap()]);
    let out = expect_code(&o, 0);
    assert!(out.contains("testkit-legacy"), "{out}");
}

#[test]
fn a_failure_of_a_0_2_bundle_is_a_recorded_stop_carrying_its_text() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, testkit) = testkit_project(tmp.path());
    write_scripted_worker(&dir);
    let b = testkit.to_str().unwrap();
    let out = expect_code(&loom(&dir, &["run", "--bundle", b, "hostile:fail"]), 11);
    for part in [
        "testkit was asked to fail in next",
        "at testkit::next",
        "warn: next is going to fail",
    ] {
        assert!(out.contains(part), "{part:?} in {out}");
    }
    let s = status_json(&dir);
    let reason = s["run"]["stop_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("traceback:"), "{reason}");
    assert_replays_identically(&dir);
}

/// The demo project, without the `test` command the `code` bundle runs and with a misspelt
/// setting: refused before a task opens, each problem named, nothing recorded.
#[test]
fn the_code_bundles_needs_are_checked_before_a_task_opens() {
    let cfg = "policy = \"supervised\"\ndefault_chain = [\"scripted:.loom/replies.toml\"]\n\
                  [bundle]\nmax-fix-round = 1\ntest-globs = \"tests/**\"\n";
    let (_tmp, dir) = project(cfg, &reply("planner", "1. fix it"));
    let o = loom(&dir, &["run", "Fix median() for even-length lists"]);
    let out = expect_code(&o, 3);
    for part in [
        "does not give bundle code",
        "command `test`",
        "[commands]",
        "setting `test-globs` is \"tests/**\", which is not a list of texts",
        "setting `max-fix-round` is not one the bundle reads",
        "did you mean `max-fix-rounds`?",
        "no task was opened",
    ] {
        assert!(out.contains(part), "{part:?} in {out}");
    }
    let s = status_json(&dir);
    assert!(s["run"].is_null(), "nothing was recorded: {s}");
    // Fixed, the same command starts the task.
    std::fs::write(
        dir.join("loom.toml"),
        config("supervised", "[bundle]\nmax-fix-rounds = 1\n"),
    )
    .unwrap();
    let o = loom(&dir, &["run", "Fix median() for even-length lists"]);
    assert_ne!(o.status.code(), Some(3), "{}", text(&o));
}
