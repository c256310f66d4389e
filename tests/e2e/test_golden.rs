//! The golden database: a `.loom/loom.db` recorded once, checked in under `tests/fixtures/`,
//! that every later loom must open, verify and replay run for run. A user's database is their
//! audit record; an upgrade that cannot read it is a bug.
//!
//! It was made with
//!
//! ```sh
//! LOOM_GOLDEN_OUT=tests/fixtures/golden.db cargo test --test e2e make_the_golden_database -- --ignored
//! ```
//!
//! and is never remade to fix a failing check: a failure here means this loom broke old records.
//! (Remake it only to add a scenario, and keep the old file beside it as `golden-N.db`.)

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden.db")
}

/// The task titles of the recorded scenarios, in order.
const SCENARIOS: &[&str] = &[
    "demo: fix median() for even-length lists",
    "crash: killed while the implementer works, then resumed",
    "rule: an agent accepts with a blocking finding open",
    "uncertain: killed during an edit that is not retry-safe",
    "budget: the implementer's answer would overspend",
    "fallback: the first provider fails, the next answers",
];

/// Puts the tree back to the demo's start, keeping `.loom`, with `cfg` as `loom.toml` (the
/// demo's own, tracked, comes back with the checkout).
fn reset_tree(dir: &Path, cfg: &str) {
    git(dir, &["checkout", "--", "."]);
    git(dir, &["clean", "-fdq", "-e", ".loom"]);
    write(dir, "loom.toml", cfg);
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Approves whatever gate is pending until the run ends.
fn approve_to_the_end(dir: &Path) {
    for _ in 0..10 {
        let s = status_json(dir);
        let Some(gate) = s["pending_gates"][0]["name"].as_str() else {
            return;
        };
        let gate = gate.to_owned();
        let o = loom(
            dir,
            &["approve", &gate, "--note", "recorded for the golden file"],
        );
        if o.status.code() == Some(0) {
            return;
        }
        assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    }
    panic!("the run never ended");
}

fn replies(implementer: &str, review: &str) -> String {
    [
        "log = \"calls.jsonl\"\n\n".to_string(),
        reply("planner", "1. fix the even case"),
        implementer.to_owned(),
        reply("reviewer", review),
    ]
    .concat()
}

#[test]
#[ignore = "makes tests/fixtures/golden.db: run only to add a scenario (see the module's doc)"]
fn make_the_golden_database() {
    let out =
        std::env::var_os("LOOM_GOLDEN_OUT").expect("set LOOM_GOLDEN_OUT to the file to write");
    let no_findings = r#"{"findings": []}"#;
    let (tmp, dir) = project(
        &config("supervised", ""),
        &replies(&reply("implementer", FIX_EVEN), no_findings),
    );

    // 1. The demo: plan, implement, test, review, a human approves.
    expect_code(&loom(&dir, &["run", SCENARIOS[0]]), 10);
    expect_code(&loom(&dir, &["approve", "accept"]), 0);

    // 2. SIGKILL while the implementer works; resume calls it again as a second attempt.
    reset_tree(&dir, &config("supervised", ""));
    let slow = format!(
        "[[reply]]\nrole = \"implementer\"\ndelay_ms = 4000\ntext = '''\n{FIX_EVEN}\n'''\n\n"
    );
    write(&dir, ".loom/replies.toml", &replies(&slow, no_findings));
    kill_during(&dir, &["run", SCENARIOS[1]], "implement");
    expect_code(&loom(&dir, &["resume"]), 10);
    expect_code(&loom(&dir, &["approve", "accept"]), 0);

    // 3. A rule refuses an agent's approval: a violation tick, then the task is abandoned.
    reset_tree(&dir, &config("autonomous", "[bundle]\nmax-fix-rounds = 0"));
    let blocking = r#"{"findings": [{"severity": "blocking", "text": "median([]) raises IndexError", "path": "stats.py"}]}"#;
    write(
        &dir,
        ".loom/replies.toml",
        &(replies(&reply("implementer", FIX_EVEN), blocking)
            + reply("reviewer", "APPROVE").as_str()),
    );
    expect_code(&loom(&dir, &["run", SCENARIOS[2]]), 11);
    expect_code(&loom(&dir, &["abandon", "--reason", "golden: refused"]), 0);

    // 4. SIGKILL during an effect that is not retry-safe: resume holds it at a human gate.
    reset_tree(&dir, &config("supervised", ""));
    let testkit = tmp.path().join("testkit.wasm");
    std::fs::write(&testkit, loom_guests::TESTKIT).unwrap();
    write(
        &dir,
        ".loom/replies.toml",
        "[[reply]]\nrole = \"worker\"\ndelay_ms = 1500\ntext = \"edited\"\n",
    );
    let title = format!("edits:tree {}", SCENARIOS[3]);
    kill_during(
        &dir,
        &["run", "--bundle", testkit.to_str().unwrap(), &title],
        "work",
    );
    expect_code(&loom(&dir, &["resume"]), 10);
    approve_to_the_end(&dir);

    // 5. The budget refuses the tick that would overspend it; the task is abandoned.
    reset_tree(&dir, &config("supervised", "[budget]\nmax_usd = 0.05\n"));
    let costing = |text: &str, role: &str| {
        format!("[[reply]]\nrole = \"{role}\"\ncost_usd = 0.03\ntext = '''\n{text}\n'''\n\n")
    };
    write(
        &dir,
        ".loom/replies.toml",
        &[
            costing("1. fix the even case", "planner"),
            costing(FIX_EVEN, "implementer"),
            costing(no_findings, "reviewer"),
        ]
        .concat(),
    );
    expect_code(&loom(&dir, &["run", SCENARIOS[4]]), 11);
    expect_code(
        &loom(&dir, &["abandon", "--reason", "golden: over budget"]),
        0,
    );

    // 6. Failed provider calls: a transient and a permanent error, then the fallback answers.
    reset_tree(
        &dir,
        "policy = \"supervised\"\n\
         default_chain = [\"scripted:.loom/down.toml\", \"scripted:.loom/replies.toml\"]\n\
         [commands]\ntest = \"python3 -m unittest -q\"\n",
    );
    write(
        &dir,
        ".loom/down.toml",
        "[[reply]]\nrole = \"planner\"\nerror = \"transient\"\nretry_after_ms = 5\ntext = \"529 overloaded\"\n\n\
         [[reply]]\nrole = \"implementer\"\nerror = \"permanent\"\ntext = \"400 invalid request\"\n\n",
    );
    write(
        &dir,
        ".loom/replies.toml",
        &replies(&reply("implementer", FIX_EVEN), no_findings),
    );
    expect_code(&loom(&dir, &["run", SCENARIOS[5]]), 10);
    expect_code(&loom(&dir, &["approve", "accept"]), 0);

    assert_replays_identically(&dir);
    // One self-contained file: the log folded in, nothing beside it needed.
    let _ = std::fs::remove_file(&out);
    let conn = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    conn.execute("VACUUM INTO ?1", [Path::new(&out).to_str().unwrap()])
        .unwrap();
}

/// A working copy of the golden file as a project's database (the checked-in file is never
/// opened in place: SQLite would leave its index files beside it).
fn golden_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(dir.join(".loom")).unwrap();
    let golden = fixture();
    assert!(
        golden.is_file(),
        "{} is missing: it is part of the repository",
        golden.display()
    );
    std::fs::copy(&golden, dir.join(".loom/loom.db")).unwrap();
    (tmp, dir)
}

#[test]
fn the_golden_database_opens_verifies_and_replays_every_run() {
    let (_tmp, dir) = golden_project();
    let before = std::fs::read(dir.join(".loom/loom.db")).unwrap();

    // Read-only first: verify and replay straight from a file, changing nothing in it.
    let db = dir.join(".loom/loom.db");
    let o = loom(
        &dir,
        &["replay", "--all", "--json", "--db", db.to_str().unwrap()],
    );
    let t = expect_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {t}"));
    let runs = v.as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(runs.len(), SCENARIOS.len(), "{v}");
    assert!(
        runs.iter().all(|r| r["identical"] == true),
        "a golden run no longer replays:\n{v}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a read-only replay wrote to the file"
    );
    // Runs replayed side by side (one worker per run, each reusing its scratch databases from
    // run to run) report exactly what one after another does, tick by tick, in run order.
    let reports = |jobs: &str| -> Vec<Value> {
        let args = ["replay", "--all", "--ticks", "--json", "--jobs", jobs];
        let o = loom(&dir, &[&args[..], &["--db", db.to_str().unwrap()]].concat());
        let t = expect_code(&o, 0);
        let mut v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {t}"));
        let runs = v.as_array_mut().unwrap_or_else(|| panic!("{t}"));
        for r in runs.iter_mut() {
            r["millis"] = Value::Null;
        }
        runs.clone()
    };
    let one = reports("1");
    assert_eq!(one.len(), SCENARIOS.len());
    assert!(one
        .iter()
        .all(|r| r["ticks"].as_array().is_some_and(|t| !t.is_empty())));
    assert_eq!(one, reports(&SCENARIOS.len().to_string()));
    assert_eq!(one, reports("2"));
    let o = loom(
        &dir,
        &[
            "replay",
            "--all",
            "--jobs",
            "0",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    let said = expect_code(&o, 2);
    assert!(said.contains("--jobs"), "{said}");
    let o = loom(&dir, &["verify"]);
    let said = expect_code(&o, 0);
    assert_eq!(said.matches("intact").count(), SCENARIOS.len(), "{said}");

    // Every scenario is there, with what makes it that scenario.
    let log = |run: usize| -> Vec<Value> {
        let o = loom(&dir, &["log", "--json", "--run", &run.to_string()]);
        let t = expect_code(&o, 0);
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {t}"))
            .as_array()
            .cloned()
            .unwrap()
    };
    let kinds = |ticks: &[Value]| -> Vec<String> {
        ticks
            .iter()
            .map(|t| t["tick"]["kind"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let rows = |ticks: &[Value]| -> Vec<Value> {
        ticks
            .iter()
            .flat_map(|t| t["ledger"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let demo = log(1);
    assert!(
        kinds(&demo).last().is_some_and(|k| k == "finish"),
        "{:?}",
        kinds(&demo)
    );
    let crash = log(2);
    assert!(
        rows(&crash).iter().any(|l| l["status"] == "superseded"),
        "the killed attempt is in the record"
    );
    let rule = log(3);
    assert!(
        kinds(&rule).iter().any(|k| k == "violation"),
        "{:?}",
        kinds(&rule)
    );
    let uncertain = log(4);
    assert!(
        uncertain.iter().any(|t| t["tick"]["step"]
            .as_str()
            .is_some_and(|s| s.starts_with("uncertain:"))),
        "the uncertain effect's gate is in the record"
    );
    let budget = log(5);
    assert!(
        rows(&budget).iter().any(|l| l["status"] == "refused"),
        "the budget's refusal is in the record"
    );
    let fallback = log(6);
    assert!(
        rows(&fallback).iter().any(|l| l["status"] == "failed"),
        "the failed provider calls are in the record"
    );

    // Opened for writing (a later loom migrates it), it still verifies and replays.
    assert_replays_identically(&dir);
    let s = status_json(&dir);
    assert!(s["run"].is_object(), "{s}");
}
