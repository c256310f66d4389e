//! Crash torture: SIGKILL the `loom` process at seeded random instants, resume after each kill,
//! and check that nothing committed was lost or performed twice.
//!
//! `LOOM_TORTURE_KILLS` (default 50), `LOOM_TORTURE_SEED` (default 7) and `LOOM_TORTURE_MAX_MS`
//! (default 500, the longest wait before a kill) set the kill points; a long run: `LOOM_TORTURE_KILLS=1000 cargo test -p loom-cli --test e2e
//! torture -- --nocapture`.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn replies() -> String {
    let slow = |role: &str, text: &str| {
        format!("[[reply]]\nrole = \"{role}\"\ndelay_ms = 40\ntext = '''\n{text}\n'''\n\n")
    };
    [
        "log = \"calls.jsonl\"\n\n".to_string(),
        slow("planner", "1. fix the even case"),
        slow("implementer", FIX_EVEN),
        slow("reviewer", r#"{"findings": []}"#),
    ]
    .concat()
}

/// What to run next to move the project on: start a task, approve the final gate, or resume.
fn next_command(dir: &Path, task: usize) -> Option<Vec<String>> {
    let s = status_json(dir);
    if s["task"].is_null() {
        if task_count(dir) > task {
            return None; // this task is finished
        }
        return Some(vec![
            "run".into(),
            format!("Fix median() for even lists, take {task}"),
        ]);
    }
    if s["run"]["status"] == "waiting" {
        let gate = s["pending_gates"][0]["name"].as_str().unwrap_or("accept");
        return Some(vec!["approve".into(), gate.into()]);
    }
    Some(vec!["resume".into()])
}

fn task_count(dir: &Path) -> usize {
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    db.query_row(
        "SELECT count(*) FROM tasks WHERE status = 'done'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
}

fn run_to_end(dir: &Path, task: usize) {
    for _ in 0..30 {
        let Some(args) = next_command(dir, task) else {
            return;
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = loom(dir, &args);
        assert!(
            matches!(o.status.code(), Some(0 | 10)),
            "{args:?} failed: {}",
            text(&o)
        );
    }
    panic!("task {task} did not finish");
}

/// (kind, step) of every tick of `run`.
fn shape(dir: &Path, run: u64) -> Vec<(String, String)> {
    let o = loom(dir, &["log", "--json", "--run", &run.to_string()]);
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tick"]["kind"].as_str().unwrap_or("").to_owned(),
                t["tick"]["step"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn torture_sigkill_at_random_points_loses_and_repeats_nothing_committed() {
    let kills = env_or("LOOM_TORTURE_KILLS", 50);
    let mut rng = Rng(env_or("LOOM_TORTURE_SEED", 7).max(1));
    // Longest wait before a kill: about one invocation's worth of work on this machine, so the
    // kill points spread over start-up, effects, commits and exits.
    let max_ms = env_or("LOOM_TORTURE_MAX_MS", 500);

    // The same scenario without a crash, for the final comparison.
    let (_ref_tmp, reference) = project(&config("supervised", ""), &replies());
    run_to_end(&reference, 0);

    let (_tmp, dir) = project(&config("supervised", ""), &replies());
    // Start with the bundle already compiled (as after any first run), so that the kill points
    // fall in the run's work and not all in the first compilation.
    let cache = reference.join(".loom/cache");
    std::fs::create_dir_all(dir.join(".loom/cache")).unwrap();
    for entry in std::fs::read_dir(&cache).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            dir.join(".loom/cache").join(entry.file_name()),
        )
        .unwrap();
    }
    let (mut done_kills, mut task, mut invocations) = (0, 0, 0);
    while done_kills < kills {
        let Some(args) = next_command(&dir, task) else {
            task += 1;
            continue;
        };
        let mut child = Command::new(LOOM)
            .args(&args)
            .current_dir(&dir)
            .env("USER", "tester")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(max_ms)));
        let _ = child.kill(); // SIGKILL; it may already have exited
        let st = child.wait().unwrap();
        if std::env::var_os("LOOM_TORTURE_TRACE").is_some() {
            eprintln!("{args:?} -> {st:?}");
        }
        invocations += 1;
        // Only a kill that landed counts; an invocation that finished first just moves on.
        if st.signal() == Some(9) {
            done_kills += 1;
        }
    }
    run_to_end(&dir, task);

    // No tick lost, duplicated, edited or reordered; every run replays identically.
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);

    // Every committed LLM call was performed exactly once; no attempt was ever performed twice.
    let calls = std::fs::read_to_string(dir.join(".loom/calls.jsonl")).unwrap_or_default();
    let mut per_attempt: BTreeMap<String, usize> = BTreeMap::new();
    for line in calls.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *per_attempt
            .entry(v["effect_key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        per_attempt.values().all(|n| *n == 1),
        "an attempt was performed twice: {per_attempt:?}"
    );
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    let mut st = db
        .prepare("SELECT key, attempt FROM ledger WHERE kind = 'agent' AND status = 'done'")
        .unwrap();
    let committed: Vec<String> = st
        .query_map([], |r| {
            Ok(format!(
                "{}.{}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(!committed.is_empty());
    for c in &committed {
        assert_eq!(
            per_attempt.get(c),
            Some(&1),
            "committed call {c}: {per_attempt:?}"
        );
    }
    let keys: Vec<&str> = committed
        .iter()
        .map(|c| c.rsplit_once('.').unwrap().0)
        .collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "one committed attempt per effect");

    // The final state equals the uncrashed run's.
    assert_eq!(
        shape(&dir, 1),
        shape(&reference, 1),
        "run 1 took the same ticks"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("stats.py")).unwrap(),
        std::fs::read_to_string(reference.join("stats.py")).unwrap()
    );
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "done", "{s}");
    eprintln!(
        "torture: {done_kills} kills in {invocations} invocations over {} task(s), {} LLM calls \
         for {} committed",
        task + 1,
        per_attempt.len(),
        committed.len()
    );
}
