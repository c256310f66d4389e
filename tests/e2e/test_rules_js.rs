//! JavaScript on the JS SDK (`sdk/js`) through the real `loom` binary: team rules written in
//! JS (`bundles/rules-js`, world `invariants`) replayed against a recorded run of the `code`
//! bundle, a JS rule's exception reaching loom's message, and the SDK's example bundle run end
//! to end with scripted replies and a human gate.

use crate::common::*;
use std::path::{Path, PathBuf};

fn js(guest: Result<&'static Path, &'static str>) -> Option<&'static str> {
    loom_guests_js::for_test(guest).map(|p| p.to_str().unwrap())
}

/// `loom demo --approve`: a recorded run of the `code` bundle whose plan gate a rule approved
/// and whose first diff needed a fix round.
fn demo(tmp: &Path) -> PathBuf {
    let dir = tmp.join("demo");
    expect_code(&loom(tmp, &["demo", dir.to_str().unwrap(), "--approve"]), 0);
    dir
}

#[test]
fn js_rules_replayed_against_a_recorded_run_fire_at_the_fix_round() {
    let Some(rules) = js(loom_guests_js::rules()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());

    let out = expect_code(&loom(&dir, &["replay", "1", "--invariants", rules]), 14);
    assert!(
        out.contains("fix-rounds-need-a-human-plan would fire first at tick 8 (step fix)"),
        "{out}"
    );
    assert!(
        out.contains("the implementer needed a fix round (r1/fix#1) and the plan (gate #3) was approved by rule"),
        "{out}"
    );
    // The other rule holds all along: the tests ran before the accept gate opened.
    assert!(!out.contains("tests-pass-before-accept"), "{out}");

    let o = loom(
        &dir,
        &["replay", "1", "--invariants", rules, "--only", "--json"],
    );
    assert_eq!(o.status.code(), Some(14), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let firings = v[0]["firings"].as_array().unwrap();
    assert_eq!(firings.len(), 1, "{v}");
    assert_eq!(firings[0]["seq"], 8);
    assert_eq!(firings[0]["source"], "invariants");
}

#[test]
fn a_js_rules_exception_reaches_loom_with_its_stack() {
    let Some(broken) = js(loom_guests_js::rules_broken()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    // Rules that could not run checked nothing: a bundle fault, not a pass.
    let out = expect_code(&loom(&dir, &["replay", "1", "--invariants", broken]), 5);
    // The demo reaches review at tick 6: the rule's error, with its text, where it was thrown
    // and the author's frames only (the SDK's own frames below them are cut).
    let want = "invariants rules at tick 6: bundle sha256:";
    assert!(out.contains(want), "{out}");
    assert!(
        out.contains("failed in rules.check: Error: no review verdict is recorded at tick 6"),
        "loom's output lacks the JS error's text:\n{out}"
    );
    assert!(
        out.contains("traceback:\n        at verdictOf (/app/broken.js:7:")
            && out.contains("at check (/app/broken.js:12:"),
        "the JS stack:\n{out}"
    );
    assert!(
        !out.contains("loom-bundle/src/"),
        "the SDK's frames are cut:\n{out}"
    );
    assert!(!out.contains("unreachable"), "{out}");
}

/// A git repository at `<tmp>/<name>` with `config` as loom.toml and `replies` as the script.
fn project_at(tmp: &Path, name: &str, config: &str, replies: &str) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(dir.join(".loom")).unwrap();
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join("loom.toml"), config).unwrap();
    std::fs::write(dir.join(".loom/replies.toml"), replies).unwrap();
    expect_code(&loom(&dir, &["init"]), 0);
    dir
}

const SCRIPTED: &str = "default_chain = [\"scripted:.loom/replies.toml\"]\n";

#[test]
fn the_js_example_bundle_waits_for_a_human_finishes_and_replays() {
    let Some(hello) = js(loom_guests_js::hello()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let replies = "[[reply]]\nrole = \"writer\"\ntext = \"Hello, loom team!\"\n";
    let dir = project_at(tmp.path(), "hello", SCRIPTED, replies);

    // loom sees what the SDK built: the contract's world, its manifest, nothing else imported.
    let o = loom(&dir, &["bundle", "check", hello, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (&v["world"], &v["ok"]),
        (&"bundle".into(), &true.into()),
        "{v}"
    );
    assert_eq!(v["manifest"]["name"], "hello-js");
    assert_eq!(v["manifest"]["gates"][0]["editable"], true, "{v}");
    let out = expect_code(
        &loom(&dir, &["run", "--bundle", hello, "the loom team"]),
        10,
    );
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["name"], "approve", "{out}");
    assert_eq!(s["pending_gates"][0]["summary"], "Hello, loom team!");
    let out = expect_code(&loom(&dir, &["approve", "approve"]), 0);
    assert!(out.contains("greeted: Hello, loom team!"), "{out}");
    assert_replays_identically(&dir);
}

#[test]
fn a_js_exception_reaches_loom_with_its_stack_and_log_lines() {
    let Some(faulty) = js(loom_guests_js::faulty()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let replies = "[[reply]]\nrole = \"worker\"\ntext = \"done\"\n";
    let dir = project_at(tmp.path(), "faulty", SCRIPTED, replies);
    for (n, call) in ["next", "apply"].into_iter().enumerate() {
        if n > 0 {
            expect_code(&loom(&dir, &["abandon"]), 0);
        }
        let task = format!("throw in {call}");
        let out = expect_code(&loom(&dir, &["run", "--bundle", faulty, &task]), 5);
        let want = format!("failed in logic.{call}: RangeError: the bundle fell over in {call}");
        assert!(out.contains(&want), "loom's output lacks {want:?}:\n{out}");
        assert!(out.contains("at failHere"), "the JS stack:\n{out}");
        if call == "next" {
            assert!(
                out.contains("its last log lines:\n    warn: about to fail in next"),
                "the bundle's log line is attached:\n{out}"
            );
        }
    }
    // The clock is stubbed out (it would trap); the SDK makes reading it an error that says so.
    expect_code(&loom(&dir, &["abandon"]), 0);
    let out = expect_code(
        &loom(&dir, &["run", "--bundle", faulty, "read the clock"]),
        5,
    );
    assert!(
        out.contains("failed in logic.next: Error: a bundle has no clock: take the time from the tick (tick.unixMs)"),
        "{out}"
    );
    assert_replays_identically(&dir);
}
