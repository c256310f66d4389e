//! The command line as a person meets it: listing runs, reading and following the log,
//! decided gates, colour, completions and the manual, `bundle check` for both worlds.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn demo(tmp: &std::path::Path) -> std::path::PathBuf {
    let dir = tmp.join("demo");
    expect_code(&loom(tmp, &["demo", dir.to_str().unwrap(), "--approve"]), 0);
    dir
}

#[test]
fn runs_lists_every_run_with_its_status_task_and_ticks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let t = expect_code(&loom(&dir, &["runs"]), 0);
    let line = t
        .lines()
        .find(|l| l.contains("#1 "))
        .unwrap_or_else(|| panic!("{t}"));
    for word in ["done", "14", "code", "Fix median"] {
        assert!(line.contains(word), "{word}: {t}");
    }
    let o = loom(&dir, &["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["run"]["id"], 1, "{v}");
    assert_eq!(v[0]["run"]["status"], "done", "{v}");
    assert_eq!(v[0]["run"]["last_seq"], 14, "{v}");
    assert!(
        v[0]["task"]["title"].as_str().unwrap().contains("median"),
        "{v}"
    );
    // The hint that used to send people to `loom status` for this now names `loom runs`.
    let t = expect_code(&loom(&dir, &["log", "--run", "7"]), 2);
    assert!(t.contains("loom runs"), "{t}");
}

#[test]
fn log_shows_the_last_ticks_and_follows_ticks_another_process_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let t = expect_code(&loom(&dir, &["log", "-n", "2"]), 0);
    let seqs: Vec<&str> = t
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .collect();
    assert_eq!(seqs.len(), 2, "{t}");
    assert!(
        seqs[0].starts_with("13") && seqs[1].starts_with("14"),
        "{t}"
    );
    let o = loom(&dir, &["log", "-n", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);

    // Follow, then start a second task from another process: its ticks arrive as they commit.
    let mut follower = Command::new(LOOM)
        .args(["log", "--follow", "-n", "1"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("#14"), "the last tick first: {first}");
    std::fs::write(
        dir.join(".loom/demo-replies.toml"),
        "[[reply]]\nrole = \"planner\"\ntext = \"1. look\"\n",
    )
    .unwrap();
    let started = Instant::now();
    let o = loom(
        &dir,
        &[
            "run",
            "--provider",
            "scripted:.loom/demo-replies.toml",
            "Look again",
        ],
    );
    assert!(o.status.code().is_some(), "{}", text(&o));
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_secs(30) {
        let Some(Ok(line)) = lines.next() else { break };
        seen.push(line.clone());
        if line.contains("task started: \"Look again\"") {
            break;
        }
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    let seen = seen.join("\n");
    assert!(seen.contains("run #2"), "a heading for the new run: {seen}");
    assert!(seen.contains("task started: \"Look again\""), "{seen}");
}

#[test]
fn gates_all_shows_how_each_gate_was_decided() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let t = expect_code(&loom(&dir, &["gates", "--all"]), 0);
    // The plan gate was decided by a rule, the accept gate by a person through the CLI.
    assert!(
        t.contains("gate plan") && t.contains("approved by rule"),
        "{t}"
    );
    assert!(
        !t.contains("rule (a rule)") && !t.contains("rule (rule)"),
        "{t}"
    );
    assert!(t.contains("approved by demo (a human) via cli at "), "{t}");
    assert!(t.contains(" UTC (tick "), "{t}");
    let t = expect_code(&loom(&dir, &["gates"]), 0);
    assert!(t.contains("no gates waiting"), "{t}");
    // New runs word their ticks for people: "an agent", "rule approved".
    let log = text(&loom(&dir, &["log"]));
    assert!(log.contains("rule approved gate plan"), "{log}");
    assert!(!log.contains("for a agent"), "{log}");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let t = expect_code(&loom(&dir, &["log", "--color", "always"]), 0);
    assert!(t.contains("\x1b["), "colour when asked: {t}");
    // Into a pipe, `auto` colours nothing, and NO_COLOR wins over a terminal too.
    let t = expect_code(&loom(&dir, &["log"]), 0);
    assert!(!t.contains("\x1b["), "{t}");
    let o = Command::new(LOOM)
        .args(["log", "--color", "never"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("\x1b["));
    let t = expect_code(&loom(&dir, &["log", "--color", "sometimes"]), 2);
    assert!(t.contains("always") && t.contains("never"), "{t}");
}

#[test]
fn completions_and_the_manual_come_from_the_command_line_itself() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = loom(tmp.path(), &["completions", shell]);
        let t = expect_code(&o, 0);
        assert!(
            t.contains("approve") && t.contains("follow"),
            "{shell}: {t}"
        );
    }
    let o = loom(tmp.path(), &["man"]);
    let t = expect_code(&o, 0);
    assert!(t.starts_with(".ie") || t.contains(".TH loom"), "roff: {t}");
    assert!(t.contains("Exit codes"), "{t}");
    let help = expect_code(&loom(tmp.path(), &["--help"]), 0);
    assert!(
        help.contains("Exit codes:") && help.contains("  14  "),
        "{help}"
    );
}

#[test]
fn bundle_check_describes_both_worlds_in_text_or_one_json_document() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = testkit_project(tmp.path());
    let b = bundle.to_str().unwrap();
    let t = expect_code(&loom(&dir, &["bundle", "check", b]), 0);
    assert!(t.contains("a loom bundle (world bundle)"), "{t}");
    assert!(t.contains("manifest testkit 0.1.0"), "{t}");
    assert!(t.contains("ok: loom loads it"), "{t}");
    assert!(!t.contains('{'), "text, not JSON: {t}");

    let o = loom(&dir, &["bundle", "check", b, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("one JSON document on stdout ({e}): {}", text(&o)));
    assert_eq!(v["world"], "bundle");
    assert_eq!(v["manifest"]["name"], "testkit");
    assert_eq!(v["ok"], true);

    // An invariants-only component is checked as what it is, not refused for lacking logic.
    let rules = tmp.path().join("human-gates.wasm");
    std::fs::write(&rules, loom_guests::HUMAN_GATES).unwrap();
    let r = rules.to_str().unwrap();
    let t = expect_code(&loom(&dir, &["bundle", "check", r]), 0);
    assert!(t.contains("world invariants"), "{t}");
    assert!(!t.contains("no exported instance"), "{t}");

    // A second check loads the compiled code from the cache.
    let o = loom(&dir, &["bundle", "check", r, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["compiled"], "loaded", "{v}");

    // A manifest loom refuses lists its problems and exits 5.
    let unsound = tmp.path().join("bad.wasm");
    std::fs::write(&unsound, loom_guests::BAD_MANIFEST).unwrap();
    let o = loom(
        &dir,
        &["bundle", "check", unsound.to_str().unwrap(), "--json"],
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(!v["problems"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn the_demo_says_what_to_type_next_through_cargo_run_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = Command::new(LOOM)
        .args(["demo", dir.to_str().unwrap()])
        .current_dir(tmp.path())
        .env("CARGO", "cargo")
        .output()
        .unwrap();
    let t = expect_code(&o, 10);
    let hint = format!(
        "cargo run -p loom-cli -- -C {}",
        dir.canonicalize().unwrap().display()
    );
    assert!(t.contains(&format!("{hint} approve accept")), "{t}");
    let o = loom(
        tmp.path(),
        &["demo", tmp.path().join("other").to_str().unwrap()],
    );
    let t = expect_code(&o, 10);
    assert!(t.contains("loom log") && !t.contains("cargo run"), "{t}");
}
