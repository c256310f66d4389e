//! Applying a diff with `git apply` so that doing it again after a crash at any instant is
//! safe: never a half-patched tree, and never the user's edit overwritten.
//!
//! With the pre-image recorded in the intent (see [`super::preimage`]), a retry compares the
//! tree with the pre-image and with the post-image (the pre-image with the diff applied, in a
//! scratch directory): as after → already applied; as before → apply; each path before, after
//! or left mid-write by `git apply` → restore the pre-image, apply again; any other change →
//! stop and name the file. Without a pre-image (an intent written by an older loom, or one too
//! large to keep) it falls back to asking git whether the diff applies or reverse-applies.

use super::git;
use super::preimage::{PathState, PreImage};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub struct DiffApplied {
    pub touched: Vec<String>,
    pub how: Applied,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied to the tree as it was when the effect was prepared.
    Now,
    /// Already in the tree (a crash after applying, before committing).
    Already,
    /// An interrupted apply had left the tree half patched: `restored` were put back as they
    /// were before the diff, then the diff was applied again.
    Redone { restored: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The diff does not apply; the tree is as it was. The bundle is told and decides.
    DidNotApply(String),
    /// loom cannot finish without overwriting a change it did not make (or could not restore a
    /// file): nothing was overwritten, and the run must stop for a human.
    Stop(String),
}

/// The paths `diff` touches as git reads it, sorted (the outcome's `touched`), and the paths
/// whose pre-image must be kept: those plus the sources of renames, which git also removes.
pub fn paths(root: &Path, diff: &str) -> Result<(Vec<String>, Vec<String>), String> {
    // On stdin, so preparing an effect writes nothing (a replay prepares effects too).
    let out = git_stdin(root, &["apply", "--numstat", "-z"], diff)?;
    if !out.status.success() {
        return Err(format!(
            "the diff is not a valid unified diff: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // With -z each file is "added\tdeleted\tpath\0", the path unquoted.
    let mut touched: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter_map(|l| l.splitn(3, '\t').nth(2).map(str::to_owned))
        .filter(|p| !p.is_empty())
        .collect();
    touched.sort();
    touched.dedup();
    let mut kept = touched.clone();
    kept.extend(
        diff.lines()
            .filter_map(|l| l.strip_prefix("rename from "))
            .map(unquote),
    );
    kept.sort();
    kept.dedup();
    // git reads `../x` and `/x` in a diff as they are (and takes any "rename from" line): a
    // path that leaves the project would have its pre-image read, and on a retry written,
    // outside it. Such a diff is refused whole.
    if let Some(p) = kept.iter().find(|p| !inside_project(p)) {
        return Err(format!(
            "the diff names {p:?}, a path outside the project; nothing was applied"
        ));
    }
    Ok((touched, kept))
}

/// Whether `path` (from a diff) stays inside the directory it is relative to.
fn inside_project(path: &str) -> bool {
    use std::path::Component;
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// The pre-image of what `diff` touches in `root`, for the intent's request.
pub fn capture(root: &Path, diff: &str) -> Result<PreImage, String> {
    let (_, kept) = paths(root, diff)?;
    PreImage::capture(root, &kept)
}

/// Applies `diff` to the tree at `root`; `pre` is the pre-image recorded when the effect was
/// prepared. `scratch` is a file path loom may write (and the post-image's directory beside it).
pub fn apply_diff(
    root: &Path,
    diff: &str,
    pre: Option<&PreImage>,
    scratch: &Path,
) -> Result<DiffApplied, ApplyError> {
    std::fs::write(scratch, diff).map_err(|e| {
        ApplyError::DidNotApply(format!("could not write {}: {e}", scratch.display()))
    })?;
    let file = scratch.to_string_lossy().into_owned();
    let (touched, _) = paths(root, diff).map_err(ApplyError::DidNotApply)?;
    let done = |how| {
        Ok(DiffApplied {
            touched: touched.clone(),
            how,
        })
    };
    let Some(pre) = pre else {
        return done(by_git_alone(root, &file, &touched)?);
    };
    let now = pre.current(root).map_err(ApplyError::Stop)?;
    if pre.same(&now) {
        // Untouched since the effect was prepared. Git still judges: the diff may have been
        // in the tree before loom ever applied it (an agent that edited the files itself).
        return done(by_git_alone(root, &file, &touched)?);
    }
    let post = match post_image(pre, &file, scratch) {
        Ok(post) => post,
        // The diff never applied to the pre-image, so no apply of it changed the tree: only
        // git can say where it stands now.
        Err(_) => return done(by_git_alone(root, &file, &touched)?),
    };
    if post.same(&now) {
        return done(Applied::Already);
    }
    let states = pre.states(&now, &post);
    let foreign: Vec<&str> = states
        .iter()
        .filter(|(_, s)| *s == PathState::Foreign)
        .map(|(p, _)| p.as_str())
        .collect();
    if !foreign.is_empty() {
        return Err(ApplyError::Stop(format!(
            "applying the diff was interrupted, and since then {} changed in a way the diff \
             does not explain (it matches neither the content before the diff nor after it); \
             loom left the tree as it is. Undo that change, or finish applying the diff by hand",
            foreign.join(", ")
        )));
    }
    pre.restore(root).map_err(ApplyError::Stop)?;
    let back = pre.current(root).map_err(ApplyError::Stop)?;
    if !pre.same(&back) {
        return Err(ApplyError::Stop(
            "the touched files could not be put back as they were before the diff".into(),
        ));
    }
    apply_now(root, &file, &touched)?;
    let after = pre.current(root).map_err(ApplyError::Stop)?;
    if !post.same(&after) {
        return Err(ApplyError::Stop(
            "the diff applied again, but the files are not what it makes of them".into(),
        ));
    }
    let restored = states
        .into_iter()
        .filter(|(_, s)| *s != PathState::Before)
        .map(|(p, _)| p)
        .collect();
    done(Applied::Redone { restored })
}

/// Checks, then applies. The check leaves the tree untouched if the diff does not apply.
fn apply_now(root: &Path, file: &str, touched: &[String]) -> Result<(), ApplyError> {
    let check = git(root, &["apply", "--check", "--whitespace=nowarn", file])
        .map_err(ApplyError::DidNotApply)?;
    if !check.status.success() {
        return Err(ApplyError::DidNotApply(stderr(&check)));
    }
    write(root, file, touched)
}

/// Applies a diff `git apply --check` accepted.
fn write(root: &Path, file: &str, touched: &[String]) -> Result<(), ApplyError> {
    if touched.len() > 1 && failpoint("apply-diff-partial") {
        // A kill while git writes the files, made reproducible: the first file patched, the
        // others not, then the process dies.
        let include = format!("--include={}", touched[0]);
        let _ = git(root, &["apply", "--whitespace=nowarn", &include, file]);
        std::process::abort();
    }
    let out = git(root, &["apply", "--whitespace=nowarn", file]).map_err(ApplyError::Stop)?;
    if !out.status.success() {
        // The check passed, so git failed while writing: the tree may be half patched, and
        // the retry (with the pre-image) puts it right.
        return Err(ApplyError::Stop(format!(
            "git apply failed while writing the files: {}",
            stderr(&out)
        )));
    }
    Ok(())
}

/// Where the diff stands by git's judgement alone: it applies (then apply it), or it
/// reverse-applies (already applied), or it does not apply.
fn by_git_alone(root: &Path, file: &str, touched: &[String]) -> Result<Applied, ApplyError> {
    let check = git(root, &["apply", "--check", "--whitespace=nowarn", file])
        .map_err(ApplyError::DidNotApply)?;
    if check.status.success() {
        write(root, file, touched)?;
        return Ok(Applied::Now);
    }
    let reverse = git(
        root,
        &["apply", "--reverse", "--check", "--whitespace=nowarn", file],
    )
    .map_err(ApplyError::DidNotApply)?;
    if reverse.status.success() {
        return Ok(Applied::Already);
    }
    Err(partly_applied(root, file, touched, stderr(&check)))
}

/// The error for a diff that does not apply (git said `why`). If some files' parts of it are
/// already in the tree, the tree holds part of this diff: an apply loom kept no pre-image of
/// was interrupted (its intent lost to a power cut, or written by an older loom). That is a
/// stop for a human, so that the bundle does not fail the run over a half-patched tree.
fn partly_applied(root: &Path, file: &str, touched: &[String], why: String) -> ApplyError {
    if touched.len() < 2 {
        return ApplyError::DidNotApply(why);
    }
    let already: Vec<&str> = touched
        .iter()
        .filter(|p| {
            let include = format!("--include={p}");
            let args = [
                "apply",
                "--reverse",
                "--check",
                "--whitespace=nowarn",
                &include,
                file,
            ];
            git(root, &args).is_ok_and(|o| o.status.success())
        })
        .map(String::as_str)
        .collect();
    if already.is_empty() {
        return ApplyError::DidNotApply(why);
    }
    ApplyError::Stop(format!(
        "the diff does not apply, but its changes to {} are already in the tree: it looks half \
         patched by an earlier apply that was interrupted, and loom has no copy of the files \
         from before it. Finish or undo the diff by hand",
        already.join(", ")
    ))
}

/// The pre-image with the diff applied, computed in a scratch directory beside `scratch`.
fn post_image(pre: &PreImage, file: &str, scratch: &Path) -> Result<PreImage, String> {
    let dir = scratch.with_extension("post");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = (|| {
        pre.restore(&dir)?;
        let file = std::fs::canonicalize(file).map_err(|e| format!("{file}: {e}"))?;
        let mut cmd = Command::new("git");
        cmd.args(["apply", "--whitespace=nowarn"])
            .arg(&file)
            .current_dir(&dir)
            .stdin(Stdio::null());
        // Outside any repository, whatever the scratch directory is inside: git must apply
        // to exactly these files, not look for a work tree above them.
        if let Some(parent) = dir.parent().and_then(|p| std::fs::canonicalize(p).ok()) {
            cmd.env("GIT_CEILING_DIRECTORIES", parent);
        }
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_COMMON_DIR",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("could not run git ({e})"))?;
        if !out.status.success() {
            return Err(stderr(&out));
        }
        pre.current(&dir)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn git_stdin(root: &Path, args: &[&str], input: &str) -> Result<std::process::Output, String> {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run git ({e}); loom needs git on PATH"))?;
    // git reads the whole patch before it writes anything, so writing all of it first cannot
    // deadlock on a full output pipe.
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("could not hand the diff to git: {e}"))?;
    }
    child
        .wait_with_output()
        .map_err(|e| format!("waiting for git: {e}"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

/// A path as a diff header writes it: git C-quotes names with unusual characters.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&d @ b'0'..=b'7') = it.peek() {
                        v = v * 8 + u32::from(d - b'0');
                        it.next();
                    }
                }
                bytes.push(u8::try_from(v).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A crash on purpose for tests (`LOOM_FAILPOINT=NAME`), as in the effect runner.
fn failpoint(name: &str) -> bool {
    std::env::var_os("LOOM_FAILPOINT").is_some_and(|v| v == name)
}
