use crate::common::*;

#[test]
fn verify_passes_a_recorded_run_and_names_the_tick_someone_edited() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    expect_code(
        &loom(tmp.path(), &["demo", dir.to_str().unwrap(), "--approve"]),
        0,
    );
    let out = expect_code(&loom(&dir, &["verify"]), 0);
    assert!(out.contains("run #1: 14 ticks, chain intact"), "{out}");

    // Edit one tick's recorded changes behind loom's back, as with the sqlite3 CLI.
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    db.execute(
        "UPDATE ticks SET summary = 'nothing to see' WHERE run_id = 1 AND seq = 7",
        [],
    )
    .unwrap();
    drop(db);
    let out = expect_code(&loom(&dir, &["verify"]), 13);
    assert!(
        out.contains("BROKEN at tick 7") && out.contains("edited"),
        "{out}"
    );
    let o = loom(&dir, &["verify", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["broken"]["seq"], 7);
}
