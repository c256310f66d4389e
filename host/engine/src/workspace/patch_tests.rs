//! Applying diffs again after an apply was interrupted at any point.

use super::preimage::{Image, PreImage};
use super::{apply_diff, capture, Applied, ApplyError};
use std::path::Path;

const TWO_FILES: &str = "\
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
 one
-two
+TWO
--- a/b.txt
+++ b/b.txt
@@ -1 +1,2 @@
 bee
+BEE
";

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

fn read(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path)).ok()
}

fn git_apply(root: &Path, diff: &str, extra: &[&str]) {
    let file = root.join("by-hand.diff");
    std::fs::write(&file, diff).unwrap();
    let out = std::process::Command::new("git")
        .arg("apply")
        .args(extra)
        .arg(&file)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_file(file).unwrap();
}

fn start() -> (tempfile::TempDir, PreImage) {
    let dir = tree(&[("a.txt", "one\ntwo\n"), ("b.txt", "bee\n")]);
    let pre = capture(dir.path(), TWO_FILES).unwrap();
    (dir, pre)
}

fn assert_fully_patched(root: &Path) {
    assert_eq!(read(root, "a.txt").unwrap(), "one\nTWO\n");
    assert_eq!(read(root, "b.txt").unwrap(), "bee\nBEE\n");
}

#[test]
fn applies_once_then_recognises_it_applied() {
    let (dir, pre) = start();
    let root = dir.path();
    let scratch = root.join("d.diff");
    let r = apply_diff(root, TWO_FILES, Some(&pre), &scratch).unwrap();
    assert_eq!(
        (r.touched, r.how),
        (vec!["a.txt".into(), "b.txt".into()], Applied::Now)
    );
    assert_fully_patched(root);
    let again = apply_diff(root, TWO_FILES, Some(&pre), &scratch).unwrap();
    assert_eq!(again.how, Applied::Already);
    assert_fully_patched(root);
    assert!(
        !root.join("d.post").exists(),
        "the scratch post-image is removed"
    );
}

/// The diff was in the tree before loom first applied it (the same fix again, say): counted
/// as applied, as git judges it, with or without a pre-image.
#[test]
fn a_diff_already_in_the_tree_before_the_first_attempt_counts_as_applied() {
    let dir = tree(&[("a.txt", "one\nTWO\n"), ("b.txt", "bee\nBEE\n")]);
    let root = dir.path();
    let pre = capture(root, TWO_FILES).unwrap();
    for pre in [Some(&pre), None] {
        let r = apply_diff(root, TWO_FILES, pre, &root.join("d.diff")).unwrap();
        assert_eq!(r.how, Applied::Already);
        assert_fully_patched(root);
    }
}

#[test]
fn a_diff_that_does_not_apply_is_reported_and_changes_nothing() {
    let dir = tree(&[("x.txt", "a\n")]);
    let bad = "--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-zzz\n+yyy\n";
    let pre = capture(dir.path(), bad).unwrap();
    let scratch = dir.path().join("d.diff");
    for pre in [Some(&pre), None] {
        let err = apply_diff(dir.path(), bad, pre, &scratch).err().unwrap();
        assert!(matches!(err, ApplyError::DidNotApply(_)), "{err:?}");
        assert_eq!(read(dir.path(), "x.txt").unwrap(), "a\n");
    }
}

/// The defect: a crash after `git apply` patched one file of two. The diff then neither
/// applies nor reverse-applies; with the pre-image it is rolled back and applied again.
#[test]
fn a_half_applied_diff_is_rolled_back_and_applied_again() {
    let (dir, pre) = start();
    let root = dir.path();
    git_apply(root, TWO_FILES, &["--include=a.txt"]);
    assert_eq!(
        read(root, "b.txt").unwrap(),
        "bee\n",
        "only a.txt was patched"
    );
    let scratch = root.join("d.diff");
    let r = apply_diff(root, TWO_FILES, Some(&pre), &scratch).unwrap();
    assert_eq!(
        r.how,
        Applied::Redone {
            restored: vec!["a.txt".into()]
        }
    );
    assert_fully_patched(root);
}

/// `git apply` removes every file it modifies before writing the new ones: a kill leaves
/// files missing and one cut short.
#[test]
fn files_removed_or_cut_short_by_a_killed_git_apply_are_put_right() {
    let (dir, pre) = start();
    let root = dir.path();
    std::fs::write(root.join("a.txt"), "one\nT").unwrap();
    std::fs::remove_file(root.join("b.txt")).unwrap();
    let r = apply_diff(root, TWO_FILES, Some(&pre), &root.join("d.diff")).unwrap();
    assert_eq!(
        r.how,
        Applied::Redone {
            restored: vec!["a.txt".into(), "b.txt".into()]
        }
    );
    assert_fully_patched(root);
}

#[test]
fn a_change_the_diff_does_not_explain_stops_and_is_not_overwritten() {
    let (dir, pre) = start();
    let root = dir.path();
    git_apply(root, TWO_FILES, &["--include=a.txt"]);
    std::fs::write(root.join("b.txt"), "my own edit\n").unwrap();
    let err = apply_diff(root, TWO_FILES, Some(&pre), &root.join("d.diff"))
        .err()
        .unwrap();
    let ApplyError::Stop(message) = err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("b.txt") && !message.contains("a.txt"),
        "{message}"
    );
    assert_eq!(read(root, "b.txt").unwrap(), "my own edit\n");
    assert_eq!(read(root, "a.txt").unwrap(), "one\nTWO\n");
}

/// Creating, deleting and renaming files: each path's "before" may be absent, and a rename
/// removes its source, so the source's pre-image is kept too.
#[test]
fn created_deleted_and_renamed_files_are_restored_too() {
    let diff = "\
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/dir/new.txt b/dir/new.txt
new file mode 100755
--- /dev/null
+++ b/dir/new.txt
@@ -0,0 +1 @@
+hello
diff --git a/old.txt b/moved/renamed.txt
similarity index 100%
rename from old.txt
rename to moved/renamed.txt
";
    let dir = tree(&[("gone.txt", "bye\n"), ("old.txt", "keep\n")]);
    let root = dir.path();
    let pre = capture(root, diff).unwrap();
    assert_eq!(
        pre.paths(),
        ["dir/new.txt", "gone.txt", "moved/renamed.txt", "old.txt"]
    );
    // Interrupted: the deletion done, the rename's source removed, the new file cut short.
    std::fs::remove_file(root.join("gone.txt")).unwrap();
    std::fs::remove_file(root.join("old.txt")).unwrap();
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::write(root.join("dir/new.txt"), "hel").unwrap();
    let r = apply_diff(root, diff, Some(&pre), &root.join("d.diff")).unwrap();
    assert!(matches!(r.how, Applied::Redone { .. }), "{:?}", r.how);
    assert_eq!(read(root, "gone.txt"), None);
    assert_eq!(read(root, "old.txt"), None);
    assert_eq!(read(root, "moved/renamed.txt").unwrap(), "keep\n");
    assert_eq!(read(root, "dir/new.txt").unwrap(), "hello\n");
}

#[test]
fn the_stored_pre_image_round_trips_and_refuses_a_damaged_one() {
    let dir = tree(&[("t.txt", "text\n")]);
    std::fs::write(dir.path().join("bin"), [0xff, 0x00, 0x80]).unwrap();
    let pre =
        PreImage::capture(dir.path(), &["t.txt".into(), "bin".into(), "none".into()]).unwrap();
    assert_eq!(pre.files[1].1, Image::Absent);
    let json = pre.to_json();
    assert_eq!(PreImage::from_json(&json).unwrap(), pre);
    let mut damaged = json.clone();
    damaged[2]["text"] = "edited\n".into();
    assert!(PreImage::from_json(&damaged).is_err());
    let mut escaping = json;
    escaping[0]["path"] = "../outside".into();
    assert!(PreImage::from_json(&escaping).is_err());
}

/// With no pre-image to restore (an intent lost to a power cut is prepared again from the
/// half-patched tree; an older loom kept none), a half-applied diff is a stop for a human,
/// never a "did not apply" that lets the bundle fail the run over a half-patched tree.
#[test]
fn a_half_applied_diff_without_its_pre_image_stops() {
    let (dir, _) = start();
    let root = dir.path();
    git_apply(root, TWO_FILES, &["--include=a.txt"]);
    let half = capture(root, TWO_FILES).unwrap();
    for pre in [Some(&half), None] {
        let err = apply_diff(root, TWO_FILES, pre, &root.join("d.diff"))
            .err()
            .unwrap();
        let ApplyError::Stop(message) = err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("changes to a.txt are already"),
            "{message}"
        );
    }
    assert_eq!(read(root, "b.txt").unwrap(), "bee\n");
}

/// A diff naming a path outside the project (`../`, absolute, or in a stray "rename from"
/// line git passes over) is refused before any pre-image is read, so nothing outside the
/// project is read now or restored on a retry.
#[test]
fn a_diff_naming_a_path_outside_the_project_is_refused() {
    let dir = tree(&[("a.txt", "one\ntwo\n")]);
    for diff in [
        "--- a/../outside.txt\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+x\n",
        "diff --git a/a.txt b/../moved.txt\nsimilarity index 100%\nrename from a.txt\nrename to ../moved.txt\n",
        "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\nrename from ../../etc/passwd\n",
    ] {
        let err = capture(dir.path(), diff).err().unwrap_or_else(|| panic!("accepted: {diff}"));
        assert!(err.contains("outside the project"), "{err}");
    }
}
