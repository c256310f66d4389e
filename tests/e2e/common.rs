use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const LOOM: &str = env!("CARGO_BIN_EXE_loom");

pub fn loom(dir: &Path, args: &[&str]) -> Output {
    Command::new(LOOM)
        .args(args)
        .current_dir(dir)
        .env("USER", "tester")
        .env_remove("LOOM_SCRIPTED_LOG")
        // As an installed `loom` runs: `cargo test` sets CARGO, which `cargo run` would too.
        .env_remove("CARGO")
        .output()
        .expect("run loom")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts the exit code, showing everything loom said when it differs.
#[track_caller]
pub fn expect_code(o: &Output, code: i32) -> String {
    let t = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "unexpected exit code; loom said:\n{t}"
    );
    t
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The demo's starting repository (buggy median, failing test), with `loom.toml` = `config`
/// and `.loom/replies.toml` = `replies`.
pub fn project(config: &str, replies: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("repo");
    // `loom demo` writes exactly the starting files we want; reuse it, then replace its config.
    let o = loom(tmp.path(), &["demo", dir.to_str().expect("utf-8 path")]);
    assert!(o.status.code().is_some(), "demo crashed: {}", text(&o));
    // Start over on the same files: drop the demo's run and changes.
    std::fs::remove_dir_all(dir.join(".loom")).expect("rm .loom");
    git(&dir, &["checkout", "--", "."]);
    git(&dir, &["clean", "-fdq"]);
    std::fs::create_dir_all(dir.join(".loom")).expect("mkdir");
    std::fs::write(dir.join("loom.toml"), config).expect("write config");
    std::fs::write(dir.join(".loom").join("replies.toml"), replies).expect("write replies");
    let o = loom(&dir, &["init"]);
    expect_code(&o, 0);
    (tmp, dir)
}

pub const FIX_EVEN: &str = r#"```diff
--- a/stats.py
+++ b/stats.py
@@ -10,4 +10,6 @@ def median(values):
     """Return the median of a non-empty list of numbers."""
     ordered = sorted(values)
     middle = len(ordered) // 2
+    if len(ordered) % 2 == 0:
+        return (ordered[middle - 1] + ordered[middle]) / 2
     return ordered[middle]
```"#;

pub const ADD_TEST: &str = r#"```diff
--- a/test_stats.py
+++ b/test_stats.py
@@ -13,6 +13,9 @@ class StatsTest(unittest.TestCase):
     def test_median_even(self):
         self.assertEqual(median([4, 1, 3, 2]), 2.5)
 
+    def test_median_big(self):
+        self.assertEqual(median([10, 30]), 20)
+
 
 if __name__ == "__main__":
     unittest.main()
```"#;

/// A `[[reply]]` entry.
pub fn reply(role: &str, text: &str) -> String {
    format!("[[reply]]\nrole = \"{role}\"\ntext = '''\n{text}\n'''\n\n")
}

pub fn config(policy: &str, extra: &str) -> String {
    format!(
        "policy = \"{policy}\"\ndefault_chain = [\"scripted:.loom/replies.toml\"]\n{extra}\n\
         [commands]\ntest = \"python3 -m unittest -q\"\n"
    )
}

pub fn status_json(dir: &Path) -> serde_json::Value {
    let o = loom(dir, &["status", "--json"]);
    let t = expect_code(&o, 0);
    serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap_or_else(|e| panic!("{e}: {t}"))
}

/// Replays every recorded run of the project at `dir` and asserts each reproduces its chain
/// tick for tick (determinism: every scenario of the suite ends with this).
#[track_caller]
pub fn assert_replays_identically(dir: &Path) {
    let o = loom(dir, &["replay", "--all", "--json"]);
    let t = text(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("replay printed no JSON ({e}):\n{t}"));
    let runs = v.as_array().expect("a list of runs");
    assert!(!runs.is_empty(), "nothing was replayed:\n{t}");
    for r in runs {
        assert_eq!(
            r["identical"], true,
            "run {} did not replay identically:\n{t}",
            r["run"]
        );
        assert_eq!(r["replayed_ticks"], r["recorded_ticks"], "{t}");
    }
    assert_eq!(o.status.code(), Some(0), "{t}");
}

/// Waits until the ledger holds an unfinished intent for `step`, i.e. the effect is running.
pub fn wait_for_intent(dir: &Path, step: &str, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Ok(c) = rusqlite::Connection::open(dir.join(".loom/loom.db")) {
            let n: rusqlite::Result<i64> = c.query_row(
                "SELECT count(*) FROM ledger WHERE step = ?1 AND status = 'intent'",
                [step],
                |r| r.get(0),
            );
            if n.map(|n| n > 0).unwrap_or(false) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// An empty git repository at `<tmp>/p` and the testkit bundle written beside it, for
/// scenarios the `code` bundle cannot stage. Returns (repository, bundle path).
pub fn testkit_project(tmp: &Path) -> (PathBuf, PathBuf) {
    let bundle = tmp.join("testkit.wasm");
    std::fs::write(&bundle, loom_guests::TESTKIT).expect("write testkit");
    let dir = tmp.join("p");
    std::fs::create_dir(&dir).expect("mkdir");
    git(&dir, &["init", "-q"]);
    (dir, bundle)
}

/// Starts `loom ARGS` in `dir`, waits until `step`'s effect is under way, and SIGKILLs it.
pub fn kill_during(dir: &Path, args: &[&str], step: &str) {
    let mut child = Command::new(LOOM)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start loom");
    assert!(
        wait_for_intent(dir, step, Duration::from_secs(60)),
        "the {step} step never started"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

/// xorshift64*: a fixed, seedable sequence for the torture tests (no crate needed, the same
/// on every machine).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The demo project with scripted replies for one clean pass (plan, fix, no findings), the
/// supervised policy and `extra` config: it stops at the human `accept` gate.
pub fn scripted_demo(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    project(&config("supervised", extra), &replies)
}

/// The implementer's rendered prompt: the stored request of the run's finished `implement`
/// call (what the provider was sent).
pub fn implementer_prompt(dir: &Path) -> String {
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    let hash: String = db
        .query_row(
            "SELECT request_hash FROM ledger WHERE step = 'implement' AND status = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let request: Vec<u8> = db
        .query_row("SELECT data FROM blobs WHERE hash = ?1", [&hash], |r| {
            r.get(0)
        })
        .unwrap();
    let request: serde_json::Value = serde_json::from_slice(&request).unwrap();
    request["prompt"].as_str().unwrap().to_owned()
}
