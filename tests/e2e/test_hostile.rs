use crate::common::*;

/// A hostile bundle gets a clean error, its tick rolls back, and loom goes on working.
#[test]
fn hostile_bundles_stop_cleanly_and_loom_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = testkit_project(tmp.path());
    std::fs::write(dir.join("none.toml"), "").unwrap();
    let b = bundle.to_str().unwrap();
    for (title, needle) in [
        ("hostile:loop", "fuel"),
        ("hostile:memory", "memory"),
        ("hostile:trap", "trap"),
        ("hostile:wasi", "wasi:"),
    ] {
        let o = loom(
            &dir,
            &[
                "run",
                "--bundle",
                b,
                "--provider",
                "scripted:none.toml",
                title,
            ],
        );
        let out = text(&o);
        assert!(
            matches!(o.status.code(), Some(11) | Some(5)),
            "{title}: {out}"
        );
        assert!(
            out.to_lowercase().contains(needle),
            "{title} should mention {needle}: {out}"
        );
        let s = status_json(&dir);
        if s["run"]["status"] == "stopped" {
            expect_code(&loom(&dir, &["abandon"]), 0);
        }
    }
    // Each hostile run replays to the same clean stop: fuel and memory limits are deterministic.
    assert_replays_identically(&dir);
    let o = loom(&dir, &["bundle", "check", b]);
    let out = expect_code(&o, 0);
    assert!(
        out.contains("wasi:"),
        "the stubbed WASI imports are listed: {out}"
    );
}

/// A bundle that finishes with a 50 MB text: the run stops at the limit, named in the message,
/// none of the text reaches the database, and the run replays to the same stop.
#[test]
fn a_50_mb_finish_text_stops_the_run_and_the_database_stays_small() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bundle) = testkit_project(tmp.path());
    std::fs::write(dir.join("none.toml"), "").unwrap();
    let b = bundle.to_str().unwrap();
    let o = loom(
        &dir,
        &[
            "run",
            "--bundle",
            b,
            "--provider",
            "scripted:none.toml",
            "hostile:big-finish",
        ],
    );
    // A fault in `next` is a recorded stop (11), not a load failure (5).
    let out = expect_code(&o, 11);
    assert!(out.contains("FINISH_TEXT_BYTES_MAX"), "{out}");
    assert!(out.contains("50000000 bytes"), "{out}");
    let s = status_json(&dir);
    assert_eq!(s["run"]["status"], "stopped", "{s}");
    let reason = s["run"]["stop_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("went over FINISH_TEXT_BYTES_MAX") && reason.contains("testkit@0.1.0"),
        "{reason}"
    );
    let db = dir.join(".loom").join("loom.db");
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    assert!(size < 4 << 20, "the database holds {size} bytes");
    assert_replays_identically(&dir);
}

/// `loom bundle check` loads through the same check as `loom run`: an unsound manifest is a
/// bundle fault listing every problem.
#[test]
fn an_unsound_manifest_is_refused_by_check_and_run_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = testkit_project(tmp.path());
    let bad = tmp.path().join("bad.wasm");
    std::fs::write(&bad, loom_guests::BAD_MANIFEST).unwrap();
    let b = bad.to_str().unwrap();
    let checked = expect_code(&loom(&dir, &["bundle", "check", b]), 5);
    let run = expect_code(&loom(&dir, &["run", "--bundle", b, "anything"]), 5);
    for out in [&checked, &run] {
        assert!(out.contains("(14 problems)"), "{out}");
        for problem in [
            "gate \"uncertain:retry\" starts with \"uncertain:\"",
            "step \"work\" is in phase \"wrok\"",
            "template \"t\" uses {{nope}}",
        ] {
            assert_eq!(
                out.matches(problem).count(),
                1,
                "{problem:?} once in:\n{out}"
            );
        }
    }
}
