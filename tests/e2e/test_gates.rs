use crate::common::*;

fn blocking_review() -> String {
    r#"{"findings": [{"severity": "blocking", "text": "median([]) raises IndexError", "path": "stats.py"}]}"#.into()
}

#[test]
fn a_rule_refuses_an_agent_accepting_with_a_blocking_finding_open() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", &blocking_review()),
        // The reviewer role also decides the accept gate under the autonomous policy.
        reply("reviewer", "APPROVE"),
    ]
    .concat();
    let (_tmp, dir) = project(
        &config("autonomous", "[bundle]\nmax-fix-rounds = 0"),
        &replies,
    );
    let o = loom(&dir, &["run", "Fix median() for even-length lists"]);
    let out = expect_code(&o, 11);
    assert!(out.contains("no-blocking-at-accept"), "{out}");
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "stopped");
    let v = &s["violations"][0];
    assert_eq!(v["rule"], "no-blocking-at-accept");
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("fact:finding/")),
        "{v}"
    );
    // The refused approval left the gate pending: nothing of it committed.
    assert_eq!(s["pending_gates"][0]["name"], "accept");
    assert_eq!(s["pending_gates"][0]["status"], "pending");
    // The violation tick replays too.
    assert_replays_identically(&dir);
}

#[test]
fn touching_tests_forces_a_human_at_the_final_gate_even_when_autonomous() {
    let replies = [
        reply("planner", "1. add a test"),
        reply(
            "implementer",
            &format!(
                "{}\n{}",
                FIX_EVEN.trim_end_matches("```").trim_end(),
                ADD_TEST.trim_start_matches("```diff\n")
            ),
        ),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("autonomous", ""), &replies);
    let o = loom(&dir, &["run", "Fix median() and cover it"]);
    expect_code(&o, 10);
    let s = status_json(&dir);
    let gate = &s["pending_gates"][0];
    assert_eq!(
        (gate["name"].as_str(), gate["decider"].as_str()),
        (Some("accept"), Some("human"))
    );

    // An agent cannot take this gate: `reject`/`approve` are human commands, and while it is
    // open no second task may start.
    let o = loom(&dir, &["run", "something else"]);
    let out = expect_code(&o, 2);
    assert!(
        out.contains("task #1") && out.contains("still open") && out.contains("loom abandon"),
        "{out}"
    );

    let o = loom(&dir, &["resume"]);
    let out = expect_code(&o, 2);
    assert!(out.contains("waiting for a human"), "{out}");

    let o = loom(&dir, &["reject", "accept"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a rejection without a reason is a usage error"
    );

    let o = loom(&dir, &["abandon", "--reason", "enough"]);
    expect_code(&o, 0);
    let o = loom(&dir, &["run", "something else"]);
    assert_ne!(
        o.status.code(),
        Some(2),
        "the project is free again: {}",
        text(&o)
    );
    assert_replays_identically(&dir);
}

#[test]
fn a_rule_refuses_a_human_accepting_with_a_blocking_finding_open_and_replay_reenacts_it() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", &blocking_review()),
    ]
    .concat();
    let (_tmp, dir) = project(
        &config("supervised", "[bundle]\nmax-fix-rounds = 0"),
        &replies,
    );
    expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        10,
    );
    let out = expect_code(&loom(&dir, &["approve", "accept"]), 4);
    assert!(out.contains("no-blocking-at-accept"), "{out}");
    // Said once and plainly, as the log says REFUSED: no `[[rule] …]` nesting.
    assert!(
        out.contains("rule no-blocking-at-accept refused it: ") && !out.contains("[["),
        "{out}"
    );
    // The refusal is recorded with what was refused; the gate stays open for another decision.
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["name"], "accept");
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let refused = log
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tick"]["kind"] == "violation")
        .unwrap();
    let changes = &refused["tick"]["changes"];
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["op"] == "refused" && c["changes"][0]["op"] == "gate-decide"),
        "{changes}"
    );
    // The human changes their mind: the run ends as failed (no fix rounds left), and replays,
    // refusal included.
    let reject = ["reject", "accept", "--reason", "the finding is real"];
    expect_code(&loom(&dir, &reject), 12);
    assert_replays_identically(&dir);
}

#[test]
fn a_human_takes_over_an_agent_gate_a_rule_keeps_refusing_and_stale_decisions_are_refused() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", &blocking_review()),
        reply("reviewer", "APPROVE"),
    ]
    .concat();
    let (_tmp, dir) = project(
        &config("autonomous", "[bundle]\nmax-fix-rounds = 0"),
        &replies,
    );
    expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        11,
    );
    // The gate is the agent's: a human must say they take it over.
    let t = expect_code(&loom(&dir, &["reject", "accept", "--reason", "fix it"]), 4);
    assert!(t.contains("--take-over"), "{t}");
    // A decision on other content than the gate shows is refused, nothing recorded.
    let t = expect_code(
        &loom(
            &dir,
            &[
                "reject",
                "accept",
                "--reason",
                "x",
                "--take-over",
                "--shown",
                "00000000dead",
            ],
        ),
        2,
    );
    assert!(t.contains("other content"), "{t}");
    let s = status_json(&dir);
    let shown = s["pending_gates"][0]["shown_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = loom(
        &dir,
        &[
            "reject",
            "accept",
            "--reason",
            "empty lists first",
            "--take-over",
            "--shown",
            &shown[..10],
        ],
    );
    let t = text(&o);
    assert!(o.status.code().is_some(), "{t}");
    let gates = loom(&dir, &["gates", "--all", "--json"]);
    let g: serde_json::Value = serde_json::from_slice(&gates.stdout).unwrap();
    let accept = g
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(accept["status"], "rejected", "{g}");
    assert_eq!(accept["decided_by"], "tester");
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let decision = log
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tick"]["kind"] == "decision" && t["tick"]["step"] == "accept")
        .unwrap();
    assert_eq!(
        decision["tick"]["decider"], "human",
        "recorded as a human decision"
    );
    assert_replays_identically(&dir);
}

/// A person's decision the bundle's `apply` refuses (its `Err`) is not recorded: the person is
/// told why, the gate stays open, and a decision the bundle can use then goes through.
#[test]
fn a_decision_the_bundle_refuses_is_not_recorded_and_the_gate_stays_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = testkit_project(tmp.path());
    std::fs::write(
        dir.join("replies.toml"),
        "[[reply]]\nrole = \"worker\"\ntext = \"first\"\n\n[[reply]]\nrole = \"worker\"\ntext = \"second\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "default_chain = [\"scripted:replies.toml\"]\n",
    )
    .unwrap();
    let b = bundle.to_str().unwrap();
    expect_code(
        &loom(
            &dir,
            &["run", "--bundle", b, "refuse:bare-rejection tidy up"],
        ),
        10,
    );
    let ticks_before = status_json(&dir)["run"]["last_seq"].clone();

    let o = loom(&dir, &["reject", "finish", "--reason", "no"]);
    let said = expect_code(&o, 4);
    assert!(
        said.contains("refused the decision on gate finish"),
        "{said}"
    );
    assert!(said.contains("must say why"), "{said}");
    assert!(said.contains("nothing was recorded"), "{said}");
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "waiting", "{s}");
    assert_eq!(
        s["run"]["last_seq"], ticks_before,
        "nothing was recorded: {s}"
    );
    assert_eq!(s["pending_gates"][0]["name"], "finish", "{s}");

    // A rejection the bundle can use goes back to work; then an approval finishes.
    expect_code(
        &loom(
            &dir,
            &["reject", "finish", "--reason", "because it is wrong"],
        ),
        10,
    );
    expect_code(&loom(&dir, &["approve", "finish"]), 0);
    assert_eq!(status_json(&dir)["run"]["status"], "done");
    assert_replays_identically(&dir);
}
