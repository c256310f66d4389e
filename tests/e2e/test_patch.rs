//! A diff whose `git apply` is killed halfway through writing its files.

use crate::common::*;
use std::process::Command;

/// The fixes to `stats.py` and `test_stats.py` as one diff, so applying it writes two files.
fn two_file_reply() -> String {
    let inner = |fenced: &str| {
        fenced
            .trim_start_matches("```diff\n")
            .trim_end_matches("```")
            .to_owned()
    };
    format!("```diff\n{}{}```", inner(FIX_EVEN), inner(ADD_TEST))
}

/// A project whose first `loom run` dies after `git apply` patched `stats.py` and before it
/// patched `test_stats.py`.
fn killed_halfway_through_the_apply() -> (tempfile::TempDir, std::path::PathBuf) {
    let replies = [
        reply("planner", "1. fix the even case and test it"),
        reply("implementer", &two_file_reply()),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (tmp, dir) = project(&config("supervised", ""), &replies);
    let o = Command::new(LOOM)
        .args(["run", "Fix median() for even-length lists"])
        .current_dir(&dir)
        .env("LOOM_FAILPOINT", "apply-diff-partial")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "loom should have died: {}", text(&o));
    let stats = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    let tests = std::fs::read_to_string(dir.join("test_stats.py")).unwrap();
    assert!(stats.contains("% 2 == 0") && !tests.contains("test_median_big"));
    (tmp, dir)
}

fn assert_fully_patched_once(dir: &std::path::Path) {
    let stats = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    let tests = std::fs::read_to_string(dir.join("test_stats.py")).unwrap();
    assert_eq!(
        stats.matches("if len(ordered) % 2 == 0").count(),
        1,
        "{stats}"
    );
    assert_eq!(tests.matches("def test_median_big").count(), 1, "{tests}");
}

/// The ledger rows of the `apply` step, oldest first.
fn apply_rows(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let log: serde_json::Value =
        serde_json::from_slice(&loom(dir, &["log", "--json"]).stdout).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["ledger"].as_array().unwrap().clone())
        .filter(|l| l["step"] == "apply")
        .collect()
}

#[test]
fn a_half_applied_diff_is_rolled_back_and_applied_again_on_resume() {
    let (_tmp, dir) = killed_halfway_through_the_apply();
    let s = status_json(&dir);
    assert_eq!(s["uncertain"][0]["step"], "apply", "{s}");

    // Resume retries the apply: it finds stats.py patched and test_stats.py not, puts
    // stats.py back, applies the whole diff, and the run goes on to the human's accept gate.
    let out = expect_code(&loom(&dir, &["resume"]), 10);
    assert_fully_patched_once(&dir);
    let rows = apply_rows(&dir);
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["superseded", "done"], "{out}");
    let done = &rows[1];
    assert!(
        done["summary"]
            .as_str()
            .unwrap()
            .contains("rolled stats.py back"),
        "{done}"
    );
    let meta = &done["meta"];
    assert_eq!(
        meta["rolled_back"],
        serde_json::json!(["stats.py"]),
        "{done}"
    );
    // The tests the diff added pass: the run went on with the whole diff.
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["name"], "accept", "{s}");
    assert_replays_identically(&dir);
}

#[test]
fn an_edit_made_after_the_kill_stops_the_run_and_is_kept() {
    let (_tmp, dir) = killed_halfway_through_the_apply();
    let mine = "# my own work in progress\n";
    std::fs::write(dir.join("test_stats.py"), mine).unwrap();

    let out = expect_code(&loom(&dir, &["resume"]), 11);
    assert!(out.contains("test_stats.py"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.join("test_stats.py")).unwrap(),
        mine,
        "loom overwrote the user's edit"
    );
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "stopped", "{s}");

    // The human puts the file back; the next resume finishes the apply.
    git(&dir, &["checkout", "--", "test_stats.py"]);
    expect_code(&loom(&dir, &["resume"]), 10);
    assert_fully_patched_once(&dir);
    let statuses: Vec<String> = apply_rows(&dir)
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("done"),
        "{statuses:?}"
    );
    assert_replays_identically(&dir);
}

/// An apply an older loom started (its intent holds no pre-image) cannot be rolled back: the
/// run stops for a human instead of failing over a half-patched tree.
#[test]
fn a_half_applied_diff_without_a_pre_image_stops_for_a_human() {
    let (_tmp, dir) = killed_halfway_through_the_apply();
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    let hash: String = db
        .query_row(
            "SELECT request_hash FROM ledger WHERE step = 'apply' AND status = 'intent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let data: Vec<u8> = db
        .query_row("SELECT data FROM blobs WHERE hash = ?1", [&hash], |r| {
            r.get(0)
        })
        .unwrap();
    let mut request: serde_json::Value = serde_json::from_slice(&data).unwrap();
    let old =
        serde_json::json!({"source": request["source"].take(), "diff": request["diff"].take()});
    db.execute(
        "UPDATE blobs SET data = ?1 WHERE hash = ?2",
        rusqlite::params![old.to_string().into_bytes(), hash],
    )
    .unwrap();
    drop(db);

    let out = expect_code(&loom(&dir, &["resume"]), 11);
    assert!(out.contains("half patched"), "{out}");
    assert_eq!(status_json(&dir)["run"]["status"], "stopped");
}
