//! More than one actor on a project: real `loom` processes racing each other. One driver at a
//! time (the others are told who drives), nothing performed twice, every run replays.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SLOW: u64 = 2500;

/// The testkit project with a worker that answers after `delay_ms`, its calls logged.
fn slow_project(tmp: &Path, delay_ms: u64) -> (std::path::PathBuf, std::path::PathBuf) {
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
            "log = \"calls.jsonl\"\n[[reply]]\nrole = \"worker\"\ndelay_ms = {delay_ms}\ntext = \"all done\"\n"
        ),
    )
    .unwrap();
    expect_code(&loom(&dir, &["init"]), 0);
    (dir, bundle)
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(LOOM)
        .args(args)
        .current_dir(dir)
        .env("USER", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn calls(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join(".loom/calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// Output that must never reach a user: raw SQL errors and panics.
#[track_caller]
fn assert_clean(t: &str) {
    for bad in [
        "database is locked",
        "already exists",
        "panicked",
        "SQL",
        "sqlite",
    ] {
        assert!(!t.contains(bad), "raw error `{bad}` reached the user:\n{t}");
    }
}

#[test]
fn a_second_driver_is_refused_naming_the_holder_and_the_agent_is_called_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = slow_project(tmp.path(), SLOW);
    let first = spawn(
        &dir,
        &["run", "--bundle", bundle.to_str().unwrap(), "do the work"],
    );
    assert!(wait_for_intent(&dir, "work", Duration::from_secs(60)));

    // A second task is refused for what it is first: one task at a time.
    let t = expect_code(&loom(&dir, &["run", "other work"]), 2);
    assert!(t.contains("still open"), "{t}");
    let reject = ["reject", "finish", "--reason", "no"];
    for args in [&["resume"][..], &["approve", "finish"], &reject[..]] {
        let o = loom(&dir, args);
        let t = expect_code(&o, 6);
        assert!(t.contains("being driven by pid"), "{args:?}: {t}");
        assert!(t.contains("loom run"), "names the holder's command: {t}");
        assert_clean(&t);
    }
    // Status reads without the lock and calls the live effect in flight, not uncertain.
    let s = status_json(&dir);
    assert_eq!(s["driver"]["transport"], "cli", "{s}");
    assert_eq!(s["in_flight"].as_array().unwrap().len(), 1, "{s}");
    assert!(s["uncertain"].as_array().unwrap().is_empty(), "{s}");
    let t = expect_code(&loom(&dir, &["status"]), 0);
    assert!(t.contains("being driven by pid"), "{t}");

    // `--wait` waits for the driver, then does its work.
    let waiter = spawn(&dir, &["resume", "--wait"]);
    let o = first.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    let o = waiter.wait_with_output().unwrap();
    let t = text(&o);
    assert!(t.contains("waiting for pid"), "{t}");
    assert_eq!(
        o.status.code(),
        Some(2),
        "the run waits for a human now: {t}"
    );

    assert_eq!(calls(&dir), 1, "one committed result, one provider call");
    expect_code(&loom(&dir, &["approve", "finish"]), 0);
    assert_replays_identically(&dir);
}

#[test]
fn a_live_effect_that_is_not_retry_safe_is_never_called_uncertain_by_a_second_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = slow_project(tmp.path(), SLOW);
    let b = bundle.to_str().unwrap();
    let first = spawn(&dir, &["run", "--bundle", b, "edits:tree do the work"]);
    assert!(wait_for_intent(&dir, "work", Duration::from_secs(60)));
    let t = expect_code(&loom(&dir, &["resume"]), 6);
    assert_clean(&t);
    let o = first.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    // The first driver's real result was kept; no uncertain gate was ever opened.
    let gates = loom(&dir, &["gates", "--all", "--json"]);
    let g: serde_json::Value = serde_json::from_slice(&gates.stdout).unwrap();
    let names: Vec<&str> = g
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["finish"], "{g}");
    assert_eq!(calls(&dir), 1);
    assert_replays_identically(&dir);
}

#[test]
fn a_command_runs_once_while_a_second_process_tries_to_resume() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let cfg = "policy = \"supervised\"\ndefault_chain = [\"scripted:.loom/replies.toml\"]\n\
               [commands]\ntest = \"echo ran >> runs.txt; sleep 2; python3 -m unittest -q\"\n";
    let (_tmp, dir) = project(cfg, &replies);
    let first = spawn(&dir, &["run", "Fix median() for lists of even length"]);
    assert!(wait_for_intent(&dir, "test", Duration::from_secs(120)));
    let t = expect_code(&loom(&dir, &["resume"]), 6);
    assert_clean(&t);
    let o = first.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    let runs = std::fs::read_to_string(dir.join("runs.txt")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the command ran once");
    assert_replays_identically(&dir);
}

#[test]
fn two_runs_started_at_once_in_a_fresh_project_give_one_task_and_a_clear_answer() {
    for trial in 0..4 {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, bundle) = testkit_project(tmp.path());
        std::fs::write(
            dir.join("loom.toml"),
            "default_chain = [\"scripted:replies.toml\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("replies.toml"),
            "[[reply]]\nrole = \"worker\"\ntext = \"ok\"\n",
        )
        .unwrap();
        let b = bundle.to_str().unwrap();
        let a = spawn(&dir, &["run", "--bundle", b, "task a"]);
        let c = spawn(&dir, &["run", "--bundle", b, "task b"]);
        let (a, c) = (a.wait_with_output().unwrap(), c.wait_with_output().unwrap());
        let mut codes = [a.status.code(), c.status.code()];
        codes.sort();
        let (ta, tc) = (text(&a), text(&c));
        assert_clean(&ta);
        assert_clean(&tc);
        // One opens the task and waits at its gate; the other is told the project is busy
        // (6) or, if it came after, that a task is open (2).
        assert!(
            matches!(codes, [Some(2 | 6), Some(10)]),
            "trial {trial}: {codes:?}\n{ta}\n{tc}"
        );
        let s = status_json(&dir);
        assert!(!s["task"].is_null());
        assert_replays_identically(&dir);
    }
}

#[test]
fn abandon_while_an_agent_works_is_recorded_after_it_and_keeps_its_result() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = slow_project(tmp.path(), SLOW);
    let first = spawn(
        &dir,
        &["run", "--bundle", bundle.to_str().unwrap(), "do the work"],
    );
    assert!(wait_for_intent(&dir, "work", Duration::from_secs(60)));
    let t = expect_code(&loom(&dir, &["abandon", "--reason", "wrong task"]), 0);
    assert!(t.contains("abandon"), "{t}");
    let o = first.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "the driver ends with the task: {}",
        text(&o)
    );
    let s = status_json(&dir);
    assert!(s["task"].is_null(), "{s}");
    assert_eq!(s["run"]["status"], "abandoned");
    let log = loom(&dir, &["log", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let last = v.as_array().unwrap().last().unwrap();
    assert_eq!(last["tick"]["kind"], "abandon");
    assert_eq!(last["ledger"][0]["status"], "refused", "{last}");
    assert!(last["ledger"][0]["meta"].to_string().contains("abandoned"));
    assert_eq!(calls(&dir), 1);
    assert_replays_identically(&dir);
}

#[test]
fn abandon_after_a_kill_mid_effect_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = slow_project(tmp.path(), SLOW);
    kill_during(
        &dir,
        &["run", "--bundle", bundle.to_str().unwrap(), "do the work"],
        "work",
    );
    let t = expect_code(&loom(&dir, &["abandon"]), 0);
    assert!(t.contains("abandoned"), "{t}");
    assert_replays_identically(&dir);
}

#[test]
fn a_bundle_fault_on_a_paid_result_keeps_it_and_resume_does_not_buy_it_again() {
    for mode in ["hostile:apply-trap", "hostile:check-trap"] {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, bundle) = slow_project(tmp.path(), 0);
        let o = loom(&dir, &["run", "--bundle", bundle.to_str().unwrap(), mode]);
        let t = text(&o);
        assert!(t.contains("trap"), "{mode}: {t}");
        assert_eq!(calls(&dir), 1);
        let _ = loom(&dir, &["resume"]);
        assert_eq!(calls(&dir), 1, "{mode}: resume used the kept result");
        let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
        let rows: Vec<(String, String)> = db
            .prepare("SELECT status, meta FROM ledger WHERE key = 'r1/work#1' ORDER BY attempt")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows.len(), 2, "{mode}: {rows:?}");
        assert!(rows.iter().all(|(s, _)| s == "refused"), "{rows:?}");
        assert!(rows[1].1.contains("reused_from"), "{rows:?}");
        assert_replays_identically(&dir);
    }
}

#[test]
fn a_closed_pipe_stops_the_printing_not_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = slow_project(tmp.path(), 300);
    let mut child = spawn(
        &dir,
        &["run", "--bundle", bundle.to_str().unwrap(), "do the work"],
    );
    // Read one line, then close the pipe as `| head -1` would.
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(10), "{err}");
    assert_eq!(status_json(&dir)["run"]["status"], "waiting");
    assert_replays_identically(&dir);
}

#[test]
fn a_relative_project_directory_works() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (tmp, dir) = project(&config("supervised", ""), &replies);
    let parent = dir.parent().unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let o = loom(
        parent,
        &["-C", name, "run", "Fix median() for lists of even length"],
    );
    let t = expect_code(&o, 10);
    assert!(!t.contains("patch failed"), "{t}");
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["name"], "accept", "{s}");
    drop(tmp);
}
