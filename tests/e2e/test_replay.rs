use crate::common::*;

fn demo(tmp: &std::path::Path) -> std::path::PathBuf {
    let dir = tmp.join("demo");
    expect_code(&loom(tmp, &["demo", dir.to_str().unwrap(), "--approve"]), 0);
    dir
}

#[test]
fn a_swapped_rule_is_reported_at_the_first_tick_it_would_have_fired() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let rules = tmp.path().join("human-gates.wasm");
    std::fs::write(&rules, loom_guests::HUMAN_GATES).unwrap();
    let rules = rules.to_str().unwrap();

    let out = expect_code(&loom(&dir, &["replay"]), 0);
    assert!(out.contains("identical, 14 ticks replayed"), "{out}");

    // The demo's plan gate is decided by a rule at tick 4: a stricter rule catches it there.
    let out = expect_code(&loom(&dir, &["replay", "1", "--invariants", rules]), 14);
    assert!(
        out.contains("humans-decide-every-gate would fire first at tick 4 (step plan)")
            && out.contains("rows: gate:3"),
        "{out}"
    );
    let o = loom(
        &dir,
        &["replay", "--all", "--invariants", rules, "--only", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(14));
    let firings = v[0]["firings"].as_array().unwrap();
    assert_eq!(firings.len(), 1, "{v}");
    assert_eq!(
        (&firings[0]["source"], &firings[0]["seq"]),
        (&"invariants".into(), &4.into())
    );
    // Tick by tick: each tick's token, decider, ledger rows, verdict and the rules firing on it.
    let out = expect_code(
        &loom(&dir, &["replay", "--ticks", "--invariants", rules]),
        14,
    );
    let lines: Vec<&str> = out.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    let t3 = at("#3   gate-open plan");
    assert!(lines[t3 + 1].contains("token 1·3·") && lines[t3 + 1].contains("decider rule"));
    assert!(lines[t3 + 1].ends_with("reproduced") && !lines[t3 + 2].contains("fires"));
    let t4 = at("#4   decision  plan");
    assert_eq!(
        lines[t4 + 2].trim(),
        "fires humans-decide-every-gate",
        "{out}"
    );
    assert!(lines[at("#2   effect    plan") + 2].contains("ledger r1/plan#1 attempt 1 done"));
    // The bundle's own rules, evaluated again at every tick, fire nowhere.
    let o = loom(&dir, &["replay", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["firings"], serde_json::json!([]));
    // The swapped rules were compiled once, into the project's cache, for every later replay.
    let hash = loom_kernel::hash::sha256_hex(loom_guests::HUMAN_GATES);
    let cached: Vec<String> = std::fs::read_dir(dir.join(".loom/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&hash) && n.ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
}

#[test]
fn replay_names_the_first_tick_that_does_not_reproduce() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    // What the accept gate showed the human, edited behind loom's back: its hash is chained.
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    db.execute(
        "UPDATE gates SET summary = 'looks fine' WHERE name = 'accept'",
        [],
    )
    .unwrap();
    drop(db);
    let out = expect_code(&loom(&dir, &["replay"]), 13);
    assert!(
        out.contains("DIFFERS at tick 12 (step accept), in change 1")
            && out.contains("recorded")
            && out.contains("replayed")
            && out.contains("shown_hash"),
        "{out}"
    );
    // verify cannot see this edit (no tick row changed); replay re-derives the tick and can.
    expect_code(&loom(&dir, &["verify"]), 0);
}

#[test]
fn replay_reads_a_copied_database_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let copy = tmp.path().join("elsewhere.db");
    std::fs::copy(dir.join(".loom/loom.db"), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = expect_code(
        &loom(
            elsewhere.path(),
            &["replay", "--db", copy.to_str().unwrap()],
        ),
        0,
    );
    assert!(out.contains("identical"), "{out}");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        before,
        "the database is unchanged"
    );
    let o = loom(
        elsewhere.path(),
        &["replay", "--db", "/nonexistent/loom.db"],
    );
    assert!(text(&o).contains("no database at"), "{}", text(&o));
}

#[test]
fn a_run_replayed_with_a_changed_bundle_is_reported_where_its_logic_departs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let other = tmp.path().join("other.wasm");
    std::fs::write(&other, loom_guests::TESTKIT).unwrap();
    let out = expect_code(
        &loom(&dir, &["replay", "--bundle", other.to_str().unwrap()]),
        13,
    );
    // The other bundle starts in another phase: tick 1 already departs, and only the field
    // that differs is shown.
    assert!(
        out.contains("DIFFERS at tick 1") && out.contains("field phase"),
        "{out}"
    );
    assert!(
        out.contains(r#"recorded  {"phase":"plan"}"#)
            && out.contains(r#"replayed  {"phase":"work"}"#),
        "{out}"
    );
    // The same bundle as recorded, passed explicitly, reproduces the run.
    let same = tmp.path().join("code.wasm");
    std::fs::write(&same, loom_guests::CODE_BUNDLE).unwrap();
    expect_code(
        &loom(&dir, &["replay", "--bundle", same.to_str().unwrap()]),
        0,
    );
}

/// `sh -c SCRIPT` in a new user and mount namespace, where SCRIPT may bind-mount; `None` where
/// this machine allows no such namespace.
fn in_mount_namespace(script: &str) -> Option<std::process::Output> {
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return None;
    }
    std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .output()
        .ok()
}

/// A project's `.loom` on a read-only mount (nothing there can be created, not even SQLite's
/// `-shm` index): `loom replay --db` still reads it.
#[cfg(unix)]
#[test]
fn replay_reads_a_database_on_a_read_only_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let src = dir.join(".loom");
    assert!(
        !src.join("loom.db-shm").exists(),
        "loom closed the database cleanly"
    );
    let mnt = tmp.path().join("ro");
    std::fs::create_dir(&mnt).unwrap();
    let (src, mnt) = (src.to_str().unwrap(), mnt.to_str().unwrap());
    let script = format!(
        "mount --bind '{src}' '{mnt}' && mount -o remount,ro,bind '{mnt}' || exit 99; \
         if touch '{mnt}/probe' 2>/dev/null; then exit 98; fi; \
         exec '{LOOM}' replay --all --json --db '{mnt}/loom.db'"
    );
    let Some(o) = in_mount_namespace(&script) else {
        eprintln!("skipped: this machine allows no user and mount namespace (unshare)");
        return;
    };
    if o.status.code() == Some(99) {
        eprintln!("skipped: no bind mount here: {}", text(&o));
        return;
    }
    assert_ne!(o.status.code(), Some(98), "the mount was writable");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["identical"], true, "{t}");
    assert_eq!(v[0]["replayed_ticks"], 14, "{t}");
}

/// With the project's `.loom` itself on a read-only mount, every read command works.
#[cfg(unix)]
#[test]
fn read_commands_work_on_a_read_only_loom_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo(tmp.path());
    let loom_dir = dir.join(".loom");
    let (ld, d) = (loom_dir.to_str().unwrap(), dir.to_str().unwrap());
    let script = format!(
        "mount --bind '{ld}' '{ld}' && mount -o remount,ro,bind '{ld}' || exit 99; \
         if touch '{ld}/probe' 2>/dev/null; then exit 98; fi; \
         for c in status gates log verify; do '{LOOM}' -C '{d}' $c || exit $?; done; \
         exec '{LOOM}' -C '{d}' replay"
    );
    let Some(o) = in_mount_namespace(&script) else {
        eprintln!("skipped: this machine allows no user and mount namespace (unshare)");
        return;
    };
    if o.status.code() == Some(99) {
        eprintln!("skipped: no bind mount here: {}", text(&o));
        return;
    }
    assert_ne!(o.status.code(), Some(98), "the mount was writable");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("chain intact") && t.contains("identical"), "{t}");
}
