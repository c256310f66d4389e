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
