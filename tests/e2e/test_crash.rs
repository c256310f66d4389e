use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until the ledger holds an unfinished intent for `step`, i.e. the effect is running.
fn wait_for_intent(dir: &Path, step: &str, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Ok(c) = rusqlite::Connection::open(dir.join(".loom/loom.db")) {
            let n: rusqlite::Result<i64> = c.query_row(
                "SELECT count(*) FROM ledger WHERE step = ?1 AND status = 'intent'",
                [step],
                |r| r.get(0),
            );
            if n.map(|n| n > 0).unwrap_or(false) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sigkill_during_a_step_then_resume_calls_each_reply_once_per_committed_step() {
    let slow_implementer = format!(
        "[[reply]]\nrole = \"implementer\"\ndelay_ms = 4000\ntext = '''\n{FIX_EVEN}\n'''\n\n"
    );
    let replies = [
        "log = \"calls.jsonl\"\n\n".to_string(),
        reply("planner", "1. fix the even case"),
        slow_implementer,
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("supervised", ""), &replies);

    let mut child = Command::new(LOOM)
        .args(["run", "Fix median() for even-length lists"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for_intent(&dir, "implement", Duration::from_secs(60)),
        "the implement step never started"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let s = status_json(&dir);
    assert_eq!(
        s["run"]["status"], "running",
        "killed mid-step, the run was never stopped cleanly"
    );
    let uncertain = s["uncertain"].as_array().unwrap();
    assert_eq!(uncertain.len(), 1, "{s}");
    assert_eq!(uncertain[0]["step"], "implement");

    let o = loom(&dir, &["resume"]);
    expect_code(&o, 10);

    // The scripted provider logs a call when it answers: every committed step answered once.
    let calls = std::fs::read_to_string(dir.join(".loom/calls.jsonl")).unwrap();
    let roles: Vec<String> = calls
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["role"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        roles,
        ["planner", "implementer", "reviewer"],
        "calls: {calls}"
    );

    // The ledger shows both attempts at the interrupted effect.
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let implement: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["ledger"].as_array().unwrap())
        .filter(|l| l["step"] == "implement")
        .collect();
    let statuses: Vec<&str> = implement
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "done"], "{implement:?}");
    assert_eq!(
        implement[0]["key"], implement[1]["key"],
        "both attempts share the idempotency key"
    );
    // The diff was applied exactly once.
    let stats = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    assert_eq!(stats.matches("if len(ordered) % 2 == 0").count(), 1);
    // The superseded attempt is replayed as recorded.
    assert_replays_identically(&dir);
}
