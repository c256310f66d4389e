use crate::common::*;
use std::process::Command;

#[test]
fn the_demo_fixes_the_bug_stops_at_the_human_gate_and_approve_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = loom(tmp.path(), &["demo", dir.to_str().unwrap()]);
    let out = expect_code(&o, 10);
    for step in [
        "plan",
        "implement",
        "apply",
        "review",
        "fix",
        "apply-fix",
        "test",
    ] {
        assert!(out.contains(step), "no {step} tick in:\n{out}");
    }
    assert!(out.contains("loom approve accept"), "{out}");
    // The patch and the fix are in the tree, and the project's tests pass.
    let stats = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    assert!(
        stats.contains("(ordered[middle - 1] + ordered[middle]) / 2")
            && stats.contains("ValueError")
    );
    let tests = Command::new("python3")
        .args(["-m", "unittest", "-q"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        tests.status.success(),
        "{}",
        String::from_utf8_lossy(&tests.stderr)
    );

    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "waiting");
    let gate = &s["pending_gates"][0];
    assert_eq!(
        (gate["name"].as_str(), gate["decider"].as_str()),
        (Some("accept"), Some("human"))
    );
    let finding = s["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "finding")
        .expect("a finding");
    assert!(
        finding["value"].to_string().contains("resolved"),
        "{finding}"
    );

    let o = loom(&dir, &["approve", "accept", "--note", "looks right"]);
    let out = expect_code(&o, 0);
    assert!(out.contains("done"), "{out}");
    let s = status_json(&dir);
    assert!(s["task"].is_null(), "the task is closed");
    assert_eq!(s["run"]["status"], "done");

    let o = loom(&dir, &["log", "--json"]);
    expect_code(&o, 0);
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ticks = log.as_array().unwrap();
    let decision = ticks
        .iter()
        .find(|t| t["tick"]["kind"] == "decision" && t["tick"]["step"] == "accept")
        .unwrap();
    assert_eq!(decision["tick"]["decider"], "human");
    assert!(decision["tick"]["summary"]
        .as_str()
        .unwrap()
        .contains("tester"));
    // Every tick links to the one before it.
    for pair in ticks.windows(2) {
        assert_eq!(pair[1]["tick"]["prev_hash"], pair[0]["tick"]["hash"]);
    }
    let text_log = text(&loom(&dir, &["log"]));
    assert!(
        text_log.contains("ledger r1/review#1 attempt 1 agent done"),
        "{text_log}"
    );
    assert_replays_identically(&dir);
}

#[test]
fn demo_approve_finishes_in_one_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let o = loom(tmp.path(), &["demo", dir.to_str().unwrap(), "--approve"]);
    let out = expect_code(&o, 0);
    assert!(out.contains("done: task #1"), "{out}");
    assert_replays_identically(&dir);
}

#[test]
fn commands_outside_a_project_say_how_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let o = loom(tmp.path(), &["status"]);
    let out = expect_code(&o, 2);
    assert!(out.contains("loom init"), "{out}");
}
