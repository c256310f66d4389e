//! The capabilities loom uses on the user's tree: applying diffs with git and running the
//! project's configured commands. Everything here runs outside any transaction, under an
//! idempotency key the driver has already committed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod patch;
#[cfg(test)]
mod patch_tests;
pub(crate) mod preimage;
mod revert;

pub(crate) use patch::capture;
#[cfg(test)]
pub(crate) use patch::paths as diff_paths;
pub use patch::{apply_diff, Applied, ApplyError, DiffApplied};
pub(crate) use revert::{diffs_after, revert};

/// Pulls a unified diff out of an agent's reply: a ```diff (or ```patch) fenced block, else the
/// whole reply if it reads as a diff.
pub fn extract_diff(reply: &str) -> Option<String> {
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("```diff") || t.starts_with("```patch") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim_start().starts_with("```"))
                .collect();
            let mut s = body.join("\n");
            s.push('\n');
            return Some(s);
        }
    }
    let t = reply.trim_start();
    if t.starts_with("diff --git") || t.starts_with("--- ") {
        let mut s = t.trim_end().to_owned();
        s.push('\n');
        return Some(s);
    }
    None
}

fn git(root: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run git ({e}); loom needs git on PATH"))
}

/// The working tree's changes against HEAD (for agents that edit the tree themselves).
pub fn tree_diff(root: &Path) -> Result<(String, Vec<String>), String> {
    let _ = git(root, &["add", "--intent-to-add", "--all"])?;
    let diff = git(root, &["diff", "HEAD", "--no-color"])?;
    let names = git(root, &["diff", "HEAD", "--name-only"])?;
    let mut touched: Vec<String> = String::from_utf8_lossy(&names.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    touched.sort();
    Ok((String::from_utf8_lossy(&diff.stdout).into_owned(), touched))
}

pub struct CommandRun {
    pub exit_code: i32,
    pub output_tail: String,
    pub timed_out: bool,
}

const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 4000;

/// Runs `command` through `sh -c` in `root`, stdout and stderr together, killing its whole
/// process group if it outlives `timeout`. Keeps only the tail of the output: enough to see why
/// a test failed without bloating the ledger.
pub fn run_command(root: &Path, command: &str, timeout: Duration) -> Result<CommandRun, String> {
    let mut child = {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("exec 2>&1; {command}"))
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            c.process_group(0);
        }
        c.spawn()
            .map_err(|e| format!("could not start `{command}`: {e}"))?
    };
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                kill_group(child.id());
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for `{command}`: {e}")),
        }
    };
    let output = reader.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&output);
    let mut tail: Vec<&str> = text.lines().rev().take(TAIL_LINES).collect();
    tail.reverse();
    let mut tail = tail.join("\n");
    if tail.len() > TAIL_BYTES {
        let cut = tail.len() - TAIL_BYTES;
        let cut = (cut..tail.len())
            .find(|i| tail.is_char_boundary(*i))
            .unwrap_or(tail.len());
        tail = tail[cut..].to_owned();
    }
    if timed_out {
        tail.push_str(&format!("\n[loom: killed after {} s]", timeout.as_secs()));
    }
    let exit_code = status.and_then(|s| s.code()).unwrap_or(-1);
    Ok(CommandRun {
        exit_code,
        output_tail: tail,
        timed_out,
    })
}

/// Kills the command's process group (its pgid is its pid: `process_group(0)` above), so the
/// test runner's children go too and leave no zombie holding the output pipe open. A direct
/// system call: some `kill` binaries misread a negative pid (procps-ng 4.0.2 turns
/// `kill -9 -1234` into `kill(-1)`, every process the user owns).
#[cfg(unix)]
fn kill_group(pid: u32) {
    use rustix::process::{kill_process_group, Pid, Signal};
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // An error means the group is already gone, which is the goal.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_fenced_and_bare_diffs() {
        let fenced = "Here you go:\n```diff\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n```\nthanks";
        assert_eq!(
            extract_diff(fenced).unwrap(),
            "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
        );
        assert!(extract_diff("diff --git a/x b/x\n").is_some());
        assert!(extract_diff("I could not do it").is_none());
    }

    #[test]
    fn runs_commands_with_exit_code_tail_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let r = run_command(
            dir.path(),
            "echo one; echo two >&2; exit 3",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.exit_code, 3);
        assert!(r.output_tail.contains("one") && r.output_tail.contains("two"));
        let r = run_command(dir.path(), "sleep 5", Duration::from_millis(200)).unwrap();
        assert!(r.timed_out && r.exit_code != 0);
    }

    /// A timeout kills the command's whole group, grandchildren included, and nothing else.
    #[cfg(unix)]
    #[test]
    fn a_timeout_kills_the_command_group_and_only_it() {
        let alive = |pid: &str| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        };
        let dir = tempfile::tempdir().unwrap();
        // Outside the command's group: must survive.
        let mut canary = Command::new("sleep").arg("30").spawn().unwrap();
        let r = run_command(
            dir.path(),
            "sleep 30 & echo $! > grandchild.txt; wait",
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(r.timed_out);
        let grandchild = std::fs::read_to_string(dir.path().join("grandchild.txt")).unwrap();
        let start = std::time::Instant::now();
        while alive(grandchild.trim()) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !alive(grandchild.trim()),
            "the grandchild outlived the timeout"
        );
        assert!(
            alive(&canary.id().to_string()),
            "a process outside the group was killed"
        );
        let _ = canary.kill();
        let _ = canary.wait();
    }
}
