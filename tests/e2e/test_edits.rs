//! Approving with edits, through the real `loom` binary: the edit is what the bundle's `apply`
//! receives (the code bundle's implementer follows an edited plan), the record holds what was
//! shown and what was approved, replay re-enacts it, and a gate that is not editable, a
//! rejection with edits, an empty edit or a failing editor decide nothing.

use crate::common::*;
use std::path::{Path, PathBuf};

/// The hello bundle (an editable `approve` gate) in a fresh repository, its run waiting there.
fn hello_waiting(tmp: &Path) -> PathBuf {
    let bundle = tmp.join("hello.wasm");
    std::fs::write(&bundle, loom_guests::HELLO).unwrap();
    let dir = tmp.join("p");
    std::fs::create_dir(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    std::fs::create_dir_all(dir.join(".loom")).unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "default_chain = [\"scripted:.loom/replies.toml\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".loom/replies.toml"),
        reply("writer", "Hello, loom team!"),
    )
    .unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["run", "the loom team", "--bundle", bundle.to_str().unwrap()],
        ),
        10,
    );
    assert!(t.contains("approve"), "{t}");
    dir
}

fn decision_tick(dir: &Path) -> serde_json::Value {
    let o = loom(dir, &["log", "--json"]);
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .find(|e| e["tick"]["kind"] == "decision")
        .cloned()
        .unwrap_or_else(|| panic!("no decision tick: {log}"))
}

#[test]
fn an_edited_approval_reaches_the_bundle_is_recorded_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = hello_waiting(tmp.path());
    // The editor is any command taking the file: here one that rewrites the greeting.
    let o = std::process::Command::new(LOOM)
        .args(["approve", "approve", "--edit"])
        .current_dir(&dir)
        .env("USER", "ann")
        .env_remove("VISUAL")
        .env("EDITOR", "sed -i s/Hello/Howdy/")
        .env_remove("CARGO")
        .output()
        .unwrap();
    let t = expect_code(&o, 0);
    assert!(t.contains("approved with edits"), "{t}");
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "done", "{s}");

    // The record: the decision tick says so, and its write holds the edited text and hash
    // next to the gate's hash of what was shown.
    let decision = decision_tick(&dir);
    assert!(
        decision["tick"]["summary"]
            .as_str()
            .unwrap()
            .contains("ann (human) approved with edits gate approve"),
        "{decision}"
    );
    let changes = decision["tick"]["changes"].to_string();
    assert!(changes.contains("Howdy, loom team! — loom"), "{changes}");
    assert!(changes.contains("edited_hash"), "{changes}");
    // What the bundle made of it: the greeting fact is the edited text.
    assert!(
        changes.contains("put-fact") && changes.contains("greeting"),
        "{changes}"
    );
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}

#[test]
fn an_edit_from_a_file_and_the_edits_that_decide_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = hello_waiting(tmp.path());
    let at_gate = status_json(&dir)["run"]["last_seq"].clone();

    // A failing editor: nothing decided.
    let o = std::process::Command::new(LOOM)
        .args(["approve", "approve", "--edit"])
        .current_dir(&dir)
        .env("EDITOR", "false")
        .env_remove("VISUAL")
        .env_remove("CARGO")
        .output()
        .unwrap();
    let t = expect_code(&o, 2);
    assert!(
        t.contains("the editor (false) exited") && t.contains("nothing was decided"),
        "{t}"
    );
    // An empty edit: nothing decided.
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "  \n").unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["approve", "approve", "--edited", empty.to_str().unwrap()],
        ),
        2,
    );
    assert!(t.contains("the edited text is empty"), "{t}");
    // A missing file: a usage error naming it.
    let t = expect_code(
        &loom(&dir, &["approve", "approve", "--edited", "nope.txt"]),
        2,
    );
    assert!(t.contains("nope.txt"), "{t}");
    assert_eq!(
        status_json(&dir)["run"]["last_seq"],
        at_gate,
        "nothing was recorded"
    );

    // From a file: approved with that text.
    let edited = tmp.path().join("edited.txt");
    std::fs::write(&edited, "Good morning, team").unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["approve", "approve", "--edited", edited.to_str().unwrap()],
        ),
        0,
    );
    assert!(t.contains("approved with edits"), "{t}");
    let changes = decision_tick(&dir)["tick"]["changes"].to_string();
    assert!(changes.contains("Good morning, team"), "{changes}");
    assert_replays_identically(&dir);
}

#[test]
fn a_gate_its_bundle_does_not_mark_editable_refuses_an_edit() {
    // The code bundle's accept gate is not editable (its plan gate is).
    let (_tmp, dir) = scripted_demo("");
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "waiting", "{s}");
    let edited = dir.join("edited.txt");
    std::fs::write(&edited, "accept something else").unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["approve", "accept", "--edited", edited.to_str().unwrap()],
        ),
        2,
    );
    assert!(t.contains("gate accept is not editable"), "{t}");
    assert_eq!(status_json(&dir)["run"]["last_seq"], s["run"]["last_seq"]);
}

/// The `code` bundle under the manual policy: a person approves the plan with edits, and the
/// implementer's rendered prompt (its ledger row's request) holds the edited plan.
#[test]
fn an_edited_plan_is_what_the_implementer_is_asked_to_follow() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (tmp, dir) = project(&config("manual", ""), &replies);
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );
    let edited = tmp.path().join("plan.txt");
    std::fs::write(
        &edited,
        "1. fix the even case\n2. keep the odd case as it is (edited by ann)",
    )
    .unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["approve", "plan", "--edited", edited.to_str().unwrap()],
        ),
        10,
    );
    assert!(t.contains("approved with edits gate plan"), "{t}");
    let prompt = implementer_prompt(&dir);
    assert!(
        prompt.contains("keep the odd case as it is (edited by ann)"),
        "{prompt}"
    );
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}

/// The rules see an edit at commit: the hello bundle's `greeting-one-line` refuses an edited
/// greeting of two lines. Nothing of the decision commits, the gate stays open for another
/// decision, and the refusal is in the record and replays.
#[test]
fn a_rule_refusing_an_edit_keeps_the_gate_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = hello_waiting(tmp.path());
    let edited = tmp.path().join("greeting.txt");
    std::fs::write(&edited, "Hello,\nloom team!").unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &["approve", "approve", "--edited", edited.to_str().unwrap()],
        ),
        4,
    );
    assert!(t.contains("greeting-one-line"), "{t}");
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["name"], "approve", "{s}");
    assert_eq!(s["violations"][0]["rule"], "greeting-one-line", "{s}");
    // The draft is what the gate still shows; a one-line edit then goes through.
    assert!(
        s["pending_gates"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Hello, loom team!"),
        "{s}"
    );
    std::fs::write(&edited, "Hello, loom team, edited!").unwrap();
    expect_code(
        &loom(
            &dir,
            &["approve", "approve", "--edited", edited.to_str().unwrap()],
        ),
        0,
    );
    assert_eq!(status_json(&dir)["run"]["status"], "done");
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}
