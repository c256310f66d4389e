//! Concurrency torture: several real `loom` processes race `run`, `resume`, `approve` and
//! `abandon` on one project, first without kills and then with SIGKILLs mixed in. Every
//! provider call must belong to exactly one ledger attempt, every committed result to exactly
//! one call, every command run to a command attempt; no raw error reaches a user; every run
//! verifies and replays identically.
//!
//! `LOOM_RACE_ROUNDS` (default 15 per phase) and `LOOM_RACE_SEED` (default 11) set the race.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn replies() -> String {
    let slow = |role: &str, text: &str| {
        format!("[[reply]]\nrole = \"{role}\"\ndelay_ms = 60\ntext = '''\n{text}\n'''\n\n")
    };
    [
        "log = \"calls.jsonl\"\n\n".to_string(),
        slow("planner", "1. fix the even case"),
        slow("implementer", FIX_EVEN),
        slow("reviewer", r#"{"findings": []}"#),
    ]
    .concat()
}

const CONFIG: &str = "policy = \"supervised\"\ndefault_chain = [\"scripted:.loom/replies.toml\"]\n\
                      [commands]\ntest = \"echo ran >> cmd.log; python3 -m unittest -q\"\n";

fn pick(rng: &mut Rng, task: &mut usize) -> Vec<String> {
    match rng.below(10) {
        0..=2 => {
            *task += 1;
            vec![
                "run".into(),
                format!("Fix median() for even lists, take {task}"),
            ]
        }
        3..=5 => vec!["resume".into()],
        6 => vec!["resume".into(), "--wait".into()],
        7 | 8 => vec!["approve".into(), "accept".into()],
        _ => vec!["abandon".into(), "--reason".into(), "raced".into()],
    }
}

fn spawn(dir: &Path, args: &[String]) -> Child {
    Command::new(LOOM)
        .args(args)
        .current_dir(dir)
        .env("USER", "racer")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[track_caller]
fn check_output(args: &[String], o: &std::process::Output) {
    let t = text(o);
    for bad in [
        "database is locked",
        "already exists",
        "panicked",
        "SQL",
        "sqlite",
    ] {
        assert!(!t.contains(bad), "{args:?}: raw error `{bad}`:\n{t}");
    }
    assert!(
        matches!(o.status.code(), Some(0 | 2 | 6 | 10 | 11)),
        "{args:?} exited {:?}:\n{t}",
        o.status.code()
    );
}

/// Drives whatever is open to its end (resume, approve) so the final checks see a rest state.
fn settle(dir: &Path) {
    for _ in 0..40 {
        let s = status_json(dir);
        if s["task"].is_null() {
            return;
        }
        let args = if s["run"]["status"] == "waiting" {
            let g = s["pending_gates"][0]["name"].as_str().unwrap_or("accept");
            vec!["approve", g]
        } else {
            vec!["resume"]
        };
        let o = loom(dir, &args);
        check_output(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &o);
    }
    panic!("the open task did not settle");
}

struct Ledger {
    /// (key.attempt, kind, status, meta)
    rows: Vec<(String, String, String, String)>,
}

fn ledger(dir: &Path) -> Ledger {
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    let mut st = db
        .prepare("SELECT key, attempt, kind, status, meta FROM ledger ORDER BY id")
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((
                format!("{}.{}", r.get::<_, String>(0)?, r.get::<_, i64>(1)?),
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    Ledger { rows }
}

fn calls(dir: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(dir.join(".loom/calls.jsonl")).unwrap_or_default();
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *per.entry(v["effect_key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    per
}

fn race(dir: &Path, rng: &mut Rng, rounds: u64, kill: bool, task: &mut usize) {
    for _ in 0..rounds {
        let n = 2 + rng.below(2) as usize;
        let cmds: Vec<Vec<String>> = (0..n).map(|_| pick(rng, task)).collect();
        let mut children: Vec<Child> = cmds.iter().map(|a| spawn(dir, a)).collect();
        if kill {
            std::thread::sleep(Duration::from_millis(rng.below(400)));
            let victim = rng.below(n as u64) as usize;
            let _ = children[victim].kill();
        }
        for (i, c) in children.into_iter().enumerate() {
            let o = c.wait_with_output().unwrap();
            if o.status.code().is_some() {
                check_output(&cmds[i], &o);
            }
        }
    }
}

#[test]
fn racing_processes_perform_nothing_twice_and_every_run_replays() {
    let rounds = env_or("LOOM_RACE_ROUNDS", 15);
    let mut rng = Rng(env_or("LOOM_RACE_SEED", 11).max(1));
    let (_tmp, dir) = project(CONFIG, &replies());
    let mut task = 0;

    // Without kills: provider calls are exactly the committed agent results.
    race(&dir, &mut rng, rounds, false, &mut task);
    settle(&dir);
    let l = ledger(&dir);
    let per = calls(&dir);
    let agent_attempts: Vec<&String> = l
        .rows
        .iter()
        .filter(|(_, kind, _, meta)| kind == "agent" && !meta.contains("reused_from"))
        .map(|(k, ..)| k)
        .collect();
    assert!(!agent_attempts.is_empty(), "the race did some work");
    assert_eq!(
        per.len(),
        per.values().sum::<usize>(),
        "an attempt was performed twice: {per:?}"
    );
    let mut keys: Vec<&String> = per.keys().collect();
    keys.sort();
    let mut expected = agent_attempts.clone();
    expected.sort();
    assert_eq!(keys, expected, "one call per agent attempt, and no other");
    let command_attempts = l.rows.iter().filter(|(_, k, ..)| k == "command").count();
    let runs = std::fs::read_to_string(dir.join("cmd.log")).unwrap_or_default();
    assert_eq!(
        runs.lines().count(),
        command_attempts,
        "one run per command attempt"
    );
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);

    // With SIGKILLs mixed in: still no attempt performed twice, every committed result
    // called once, never a command run without its attempt.
    race(&dir, &mut rng, rounds, true, &mut task);
    settle(&dir);
    let l = ledger(&dir);
    let per = calls(&dir);
    assert!(
        per.values().all(|n| *n == 1),
        "an attempt was performed twice: {per:?}"
    );
    let attempts: std::collections::BTreeSet<&String> = l.rows.iter().map(|(k, ..)| k).collect();
    for k in per.keys() {
        assert!(attempts.contains(k), "call {k} has no ledger attempt");
    }
    for (k, kind, status, meta) in &l.rows {
        if kind == "agent" && status == "done" && !meta.contains("reused_from") {
            assert_eq!(per.get(k), Some(&1), "committed result {k}");
        }
    }
    let command_attempts = l.rows.iter().filter(|(_, k, ..)| k == "command").count();
    let runs = std::fs::read_to_string(dir.join("cmd.log")).unwrap_or_default();
    assert!(runs.lines().count() <= command_attempts);
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
    eprintln!(
        "race: {task} task(s) started, {} provider calls, {} ledger rows",
        per.len(),
        l.rows.len()
    );
}
