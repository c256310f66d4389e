//! Every exit code `loom --help` lists, reached by the real binary in a real situation, and
//! the messages of the command-line mistakes a new user makes first.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The codes `loom --help` ends with.
fn codes_in_help() -> Vec<i32> {
    let o = Command::new(LOOM).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    let table = help
        .split("Exit codes:")
        .nth(1)
        .unwrap_or_else(|| panic!("no exit codes in --help:\n{help}"));
    table
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A testkit project whose worker answers `reply` (after `delay_ms`).
fn testkit(tmp: &Path, reply: &str, delay_ms: u64) -> (std::path::PathBuf, String) {
    std::fs::create_dir_all(tmp).unwrap();
    let (dir, bundle) = testkit_project(tmp);
    std::fs::create_dir_all(dir.join(".loom")).unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "default_chain = [\"scripted:.loom/replies.toml\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".loom/replies.toml"),
        format!(
            "[[reply]]\nrole = \"worker\"\ndelay_ms = {delay_ms}\ntext = \"{reply}\"\n\
             [[reply]]\nrole = \"worker\"\ntext = \"{reply}\"\n"
        ),
    )
    .unwrap();
    expect_code(&loom(&dir, &["init"]), 0);
    (dir, bundle.to_str().unwrap().to_owned())
}

#[test]
fn every_exit_code_in_the_help_is_reached_by_the_real_binary() {
    let mut reached: BTreeMap<i32, &str> = BTreeMap::new();
    let tmp = tempfile::tempdir().unwrap();

    // 0 and 10: a task that waits for its human gate, approved.
    let (dir, b) = testkit(&tmp.path().join("ok"), "all done", 0);
    expect_code(&loom(&dir, &["run", "--bundle", &b, "do the work"]), 10);
    reached.insert(10, "a run waiting at a human gate");
    expect_code(&loom(&dir, &["approve", "finish"]), 0);
    reached.insert(0, "a run that finished");

    // 1: the disk says no (`.loom` is a file, so no directory can be made there).
    let blocked = tmp.path().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join(".loom"), "not a directory").unwrap();
    let t = expect_code(&loom(&blocked, &["init"]), 1);
    assert!(t.contains("cannot create"), "{t}");
    reached.insert(1, "a directory that cannot be created");

    // 2: a bundle file that is not there, refused before anything is created.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let t = expect_code(
        &loom(&empty, &["run", "--bundle", "missing.wasm", "do it"]),
        2,
    );
    assert!(t.contains("missing.wasm: no such file"), "{t}");
    assert!(!empty.join(".loom").exists(), "nothing was created");
    reached.insert(2, "a missing --bundle file");

    // 3: a misspelt setting.
    let (bad, _b) = testkit(&tmp.path().join("bad"), "x", 0);
    std::fs::write(bad.join("loom.toml"), "polcy = \"manual\"\n").unwrap();
    let t = expect_code(&loom(&bad, &["run", "do it"]), 3);
    assert!(t.contains("polcy"), "{t}");
    reached.insert(3, "a misspelt setting");

    // 4: the bundle refuses a rejection that does not say why; nothing is recorded.
    let (dir, b) = testkit(&tmp.path().join("refuse"), "all done", 0);
    let title = "refuse:bare-rejection do the work";
    expect_code(&loom(&dir, &["run", "--bundle", &b, title]), 10);
    let t = expect_code(&loom(&dir, &["reject", "finish", "--reason", "no"]), 4);
    assert!(t.contains("nothing was recorded"), "{t}");
    reached.insert(4, "a decision the bundle refuses");

    // 5: a bundle that panics stops its run as the bundle's fault, and a resume says so again.
    let (dir, b) = testkit(&tmp.path().join("trap"), "all done", 0);
    let t = expect_code(&loom(&dir, &["run", "--bundle", &b, "hostile:trap"]), 5);
    assert!(
        t.contains("will stop again"),
        "the hint says what resuming does: {t}"
    );
    expect_code(&loom(&dir, &["resume"]), 5);
    let garbage = tmp.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let t = expect_code(
        &loom(&dir, &["bundle", "check", garbage.to_str().unwrap()]),
        5,
    );
    assert!(t.contains("magic bytes"), "{t}");
    reached.insert(5, "a bundle that panics");

    // 6: another process drives the project.
    let (dir, b) = testkit(&tmp.path().join("busy"), "all done", 3000);
    let mut first = Command::new(LOOM)
        .args(["run", "--bundle", &b, "do the slow work"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for_intent(&dir, "work", Duration::from_secs(60)));
    let t = expect_code(&loom(&dir, &["resume"]), 6);
    assert!(t.contains("being driven by pid"), "{t}");
    assert_eq!(first.wait().unwrap().code(), Some(10));
    reached.insert(6, "a second driver");

    // 11: a rule refuses the worker's result.
    let (dir, b) = testkit(&tmp.path().join("rule"), "this is FORBIDDEN", 0);
    let t = expect_code(&loom(&dir, &["run", "--bundle", &b, "do the work"]), 11);
    assert!(t.contains("no-forbidden"), "{t}");
    reached.insert(11, "a rule that fires");

    // 12: the code bundle gives up when a rejection leaves it no fix rounds.
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_t12, dir) = project(
        &config("supervised", "[bundle]\nmax-fix-rounds = 0"),
        &replies,
    );
    expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        10,
    );
    let reject = ["reject", "accept", "--reason", "not like this"];
    expect_code(&loom(&dir, &reject), 12);
    reached.insert(12, "a run that failed");

    // 13 and 14: an edited tick, and a stricter rule replayed.
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    let rules = tmp.path().join("human-gates.wasm");
    std::fs::write(&rules, loom_guests::HUMAN_GATES).unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["replay", "1", "--invariants", rules.to_str().unwrap()],
        ),
        14,
    );
    assert!(t.contains("would fire first"), "{t}");
    reached.insert(14, "a rule that would have fired");
    db.execute(
        "UPDATE ticks SET summary = 'edited' WHERE run_id = 1 AND seq = 3",
        [],
    )
    .unwrap();
    expect_code(&loom(&dir, &["verify"]), 13);
    reached.insert(13, "an edited tick");

    let listed = codes_in_help();
    let covered: Vec<i32> = reached.keys().copied().collect();
    assert_eq!(
        covered, listed,
        "every code `loom --help` lists is reached here, and no other: {reached:?}"
    );
}

#[test]
fn a_project_directory_that_does_not_exist_is_a_usage_error_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["-C", "/nonexistent/loom", "status"][..],
        &["status", "-C", "/nonexistent/loom"],
    ] {
        let t = expect_code(&loom(tmp.path(), args), 2);
        assert!(t.contains("/nonexistent/loom does not exist"), "{t}");
        assert!(!t.contains("os error"), "no raw OS error: {t}");
    }
    // A command that works on no project refuses a -C rather than ignore it.
    let t = expect_code(&loom(tmp.path(), &["-C", ".", "man"]), 2);
    assert!(t.contains("works on none"), "{t}");
    let o = loom(tmp.path(), &["demo", "-C", "."]);
    assert_eq!(o.status.code(), Some(2), "demo offers no -C: {}", text(&o));
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let t = expect_code(
        &loom(tmp.path(), &["demo", tmp.path().to_str().unwrap()]),
        2,
    );
    assert!(t.contains("is not empty"), "{t}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn without_runs_log_replay_and_verify_agree_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    expect_code(&loom(tmp.path(), &["init"]), 0);
    for args in [&["log"][..], &["replay"], &["replay", "--all"], &["verify"]] {
        let t = expect_code(&loom(tmp.path(), args), 2);
        assert!(
            t.contains("no runs yet") || t.contains("no recorded runs"),
            "{args:?}: {t}"
        );
        assert!(
            t.contains("loom run"),
            "{args:?} says how to start one: {t}"
        );
    }
    let t = expect_code(&loom(tmp.path(), &["runs"]), 0);
    assert!(t.contains("no runs yet"), "{t}");
}

#[test]
fn a_bad_command_line_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let t = expect_code(&loom(tmp.path(), &["log", "--frobnicate"]), 2);
    assert!(t.contains("--frobnicate"), "{t}");
}
