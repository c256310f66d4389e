//! The incident-response runbook (`bundles/incident`, Python on the Python SDK) through the
//! real `loom` binary: its demo project, a crash and resume, replay, its rules biting, and a
//! Python exception reaching loom's output with its traceback. The kernel knows none of this domain.

use crate::common::*;
use std::path::{Path, PathBuf};

const DEMO_CONFIG: &str = include_str!("../../bundles/incident/demo/loom.toml");
const DEMO_REPLIES: &str = include_str!("../../bundles/incident/demo/replies.toml");
const TASK: &str = "Checkout returns HTTP 500 for a third of requests since the 14:02 deploy";
const GATE: &str = "approve-mitigation";

/// The demo's health check, slowed down so a test can kill loom while it runs.
const SLOW_HEALTH_CHECK: &str =
    "health-check = \"sleep 3; grep -q '^rollback:' ops.log && echo 'checkout: 0.1% errors'\"";

fn incident() -> Option<&'static Path> {
    loom_guests_py::for_test(loom_guests_py::incident())
}

/// A git repository at `<tmp>/<name>` with `config` as loom.toml and `replies` as the script.
fn ops_project(tmp: &Path, name: &str, config: &str, replies: &str) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(dir.join(".loom")).unwrap();
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join("loom.toml"), config).unwrap();
    std::fs::write(dir.join(".loom/replies.toml"), replies).unwrap();
    expect_code(&loom(&dir, &["init"]), 0);
    dir
}

/// Runs `first`, the first command that loads a Python bundle in `dir`, with `dir`'s compile
/// cache seeded from a shared one under the target dir, and keeps what it compiled there. A
/// ~19 MB component compiles once per machine in real use (seconds, and a lot more in a debug
/// build); here, once for all the tests and their reruns. The lock makes the tests that start
/// together wait for one compile instead of running several at once.
fn compiled_once<T>(dir: &Path, first: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-bundle-cache");
    let own = dir.join(".loom/cache");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&own).unwrap();
    copy_new(&shared, &own);
    let out = first();
    copy_new(&own, &shared);
    out
}

/// Copies each file of `from` that `to` lacks, through a temporary name.
fn copy_new(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if !dst.exists() {
            let tmp = to.join(format!(".{}.part", e.file_name().to_string_lossy()));
            std::fs::copy(e.path(), &tmp).unwrap();
            std::fs::rename(&tmp, &dst).unwrap();
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn roles(calls: &Path) -> Vec<String> {
    lines(calls)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["role"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_runbook_waits_for_a_human_survives_a_kill_finishes_and_replays() {
    let Some(bundle) = incident() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let config = DEMO_CONFIG.replace(
        "health-check = \"grep -q '^rollback:' ops.log && echo 'checkout: 0.1% errors, p99 180 ms'\"",
        SLOW_HEALTH_CHECK,
    );
    assert_ne!(
        config, DEMO_CONFIG,
        "the demo's health check moved: update this test"
    );
    let dir = ops_project(tmp.path(), "ops", &config, DEMO_REPLIES);
    let b = bundle.to_str().unwrap();

    // Triage and diagnosis, then the high-risk gate: nothing has run against production.
    let out = compiled_once(&dir, || {
        expect_code(&loom(&dir, &["run", "--bundle", b, TASK]), 10)
    });
    let s = status_json(&dir);
    let gate = &s["pending_gates"][0];
    assert_eq!(gate["name"], GATE, "{out}");
    let summary = gate["summary"].as_str().unwrap();
    assert!(summary.contains("- rollback\n- restart"), "{summary}");
    assert!(summary.contains("sev1 on checkout"), "{summary}");
    assert!(
        !dir.join("ops.log").exists(),
        "a mitigation ran before the approval"
    );

    // Approved; killed while the health check runs, after both mitigations committed.
    kill_during(&dir, &["approve", GATE], "verify");
    assert_eq!(status_json(&dir)["run"]["status"], "running");
    let out = expect_code(&loom(&dir, &["resume"]), 0);
    assert!(
        out.contains("incident mitigated in round 1 (rollback, restart, health-check)"),
        "{out}"
    );

    // Each mitigation ran once (the interrupted health check is retry-safe and ran again).
    let ops = lines(&dir.join("ops.log"));
    assert_eq!(
        ops,
        [
            "rollback: checkout back to release 41",
            "restart: checkout pods restarted"
        ]
    );
    let calls = dir.join(".loom/calls.jsonl");
    assert_eq!(roles(&calls), ["responder", "responder", "scribe"]);
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let statuses = |step: &str| -> Vec<String> {
        log.as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["ledger"].as_array().unwrap())
            .filter(|l| l["step"] == step)
            .map(|l| l["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(statuses("verify"), ["superseded", "done"]);
    assert_eq!(statuses("mitigate"), ["done", "done"]);

    // The chain verifies, and the run replays tick for tick with no provider or command.
    let out = expect_code(&loom(&dir, &["verify"]), 0);
    assert!(out.contains("chain intact"), "{out}");
    assert_replays_identically(&dir);
    assert_eq!(roles(&calls).len(), 3, "replay called a provider");
    assert_eq!(lines(&dir.join("ops.log")), ops, "replay ran a command");
}

#[test]
fn the_rules_refuse_a_mitigation_no_human_approved_and_a_postmortem_that_omits_a_command() {
    let Some(bundle) = incident() else { return };
    let b = bundle.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // The project hands the mitigation gate to a rule: loom approves it itself, and the
    // bundle's invariant refuses that decision before any mitigation command runs.
    let config = format!("{DEMO_CONFIG}\n[gates.{GATE}]\ndecider = \"rule\"\n");
    let dir = ops_project(tmp.path(), "by-rule", &config, DEMO_REPLIES);
    let out = compiled_once(&dir, || {
        expect_code(&loom(&dir, &["run", "--bundle", b, TASK]), 11)
    });
    assert!(out.contains("mitigation-needs-human-approval"), "{out}");
    assert!(out.contains("not by a human"), "{out}");
    assert!(!dir.join("ops.log").exists(), "a mitigation command ran");
    assert_eq!(
        status_json(&dir)["run"]["phase"],
        "approve",
        "the decision was rolled back"
    );
    assert_replays_identically(&dir);

    // A postmortem that leaves out `restart` does not commit; resumed, the scribe is asked
    // again and names every command.
    let short = "[[reply]]\nrole = \"scribe\"\ntext = \"We ran rollback; health-check passed.\"\n";
    let replies = DEMO_REPLIES.replacen(
        "[[reply]]\nrole = \"scribe\"",
        &format!("{short}\n[[reply]]\nrole = \"scribe\""),
        1,
    );
    let dir2 = ops_project(tmp.path(), "postmortem", DEMO_CONFIG, &replies);
    compiled_once(&dir2, || {
        expect_code(&loom(&dir2, &["run", "--bundle", b, TASK]), 10)
    });
    let out = expect_code(&loom(&dir2, &["approve", GATE]), 11);
    assert!(out.contains("postmortem-names-every-command"), "{out}");
    assert!(out.contains("does not name `restart`"), "{out}");
    let out = expect_code(&loom(&dir2, &["resume"]), 0);
    assert!(out.contains("postmortem recorded"), "{out}");
    assert_eq!(
        roles(&dir2.join(".loom/calls.jsonl")),
        ["responder", "responder", "scribe", "scribe"]
    );
    assert_replays_identically(&dir2);
}

#[test]
fn a_python_exception_reaches_loom_with_its_traceback() {
    let Some(faulty) = loom_guests_py::for_test(loom_guests_py::faulty()) else {
        return;
    };
    let b = faulty.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let replies = "[[reply]]\nrole = \"worker\"\ntext = \"done\"\n";
    let dir = ops_project(
        tmp.path(),
        "faulty",
        "default_chain = [\"scripted:.loom/replies.toml\"]\n",
        replies,
    );

    for (n, (task, frame)) in [("raise in next", "in next"), ("raise in apply", "in apply")]
        .into_iter()
        .enumerate()
    {
        if n > 0 {
            expect_code(&loom(&dir, &["abandon"]), 0);
        }
        let o = compiled_once(&dir, || loom(&dir, &["run", "--bundle", b, task]));
        // A bundle fault exits 5. The stop report (what stopped the run, the traceback, the
        // log lines) is on stdout, where `loom run` prints the run; stderr carries only loom's
        // own errors.
        let out = expect_code(&o, 5);
        let want = format!(
            "failed in logic.{}: ZeroDivisionError: the bundle divided by zero {frame}",
            &frame[3..]
        );
        assert!(out.contains(&want), "loom's output lacks {want:?}:\n{out}");
        let traceback = format!(
            "Traceback (most recent call last):\n      File \"/0/faulty.py\", line {}, in {}\n        fail_here(\"{}\")\n      File \"/0/faulty.py\", line 9, in fail_here\n        raise ZeroDivisionError(f\"the bundle divided by zero in {{where}}\")",
            if frame == "in next" { 28 } else { 33 },
            &frame[3..],
            &frame[3..]
        );
        assert!(
            out.contains(&traceback),
            "the traceback, with its source lines:\n{out}"
        );
        if task == "raise in next" {
            assert!(
                out.contains("its last log lines:\n    warn: about to fail in next"),
                "the bundle's log line is attached:\n{out}"
            );
        }
    }
    assert_replays_identically(&dir);
}
