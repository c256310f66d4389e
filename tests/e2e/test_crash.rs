use crate::common::*;

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

    kill_during(
        &dir,
        &["run", "Fix median() for even-length lists"],
        "implement",
    );

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

#[test]
fn sigkill_during_an_effect_that_is_not_retry_safe_holds_it_for_a_human() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = testkit_project(tmp.path());
    std::fs::write(
        dir.join("replies.toml"),
        "log = \"calls.jsonl\"\n\n[[reply]]\nrole = \"worker\"\ndelay_ms = 1500\ntext = \"edited\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "default_chain = [\"scripted:replies.toml\"]\n",
    )
    .unwrap();
    // The testkit's agent step edits the tree when the task says so: not retry-safe.
    let b = bundle.to_str().unwrap();
    kill_during(&dir, &["run", "--bundle", b, "edits:tree tidy up"], "work");
    let s = status_json(&dir);
    assert_eq!(s["uncertain"].as_array().unwrap().len(), 1, "{s}");

    // Resume does not redo it: it holds the run at a human gate that says what may have happened.
    let out = expect_code(&loom(&dir, &["resume"]), 10);
    let s = status_json(&dir);
    let gate = &s["pending_gates"][0];
    let name = gate["name"].as_str().unwrap().to_owned();
    assert_eq!(name, "uncertain:r1/work#1#1", "{out}");
    assert!(
        gate["summary"]
            .as_str()
            .unwrap()
            .contains("may or may not have happened"),
        "{gate}"
    );
    assert!(
        !dir.join("calls.jsonl").exists(),
        "the killed call never returned"
    );

    // A human says: do it again. The run goes on to its end.
    let mut o = loom(&dir, &["approve", &name]);
    while o.status.code() == Some(10) {
        let s = status_json(&dir);
        let next = s["pending_gates"][0]["name"].as_str().unwrap().to_owned();
        o = loom(&dir, &["approve", &next]);
    }
    expect_code(&o, 0);
    let calls = std::fs::read_to_string(dir.join("calls.jsonl")).unwrap();
    assert_eq!(calls.lines().count(), 1, "{calls}");
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let work: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["ledger"].as_array().unwrap())
        .filter(|l| l["step"] == "work")
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(work, ["superseded", "done"]);
    // The hold, the human's redo and the rest replay as recorded.
    assert_replays_identically(&dir);
}
