//! `loom demo [DIR] [--approve]`.

use crate::{demo_files as files, engine, exit, finish};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=loom demo",
            "-c",
            "user.email=demo@loom.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .context("could not run git; the demo needs git on PATH")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn fresh_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let dir = base.join(format!("loom-demo-{}-{i}", std::process::id()));
        if std::fs::create_dir(&dir).is_ok() {
            return Ok(dir);
        }
    }
    bail!("could not create a directory under {}", base.display())
}

pub fn run(dir: Option<PathBuf>, approve: bool) -> Result<u8> {
    let dir = match dir {
        Some(d) => {
            if d.exists()
                && std::fs::read_dir(&d)
                    .map(|mut r| r.next().is_some())
                    .unwrap_or(true)
            {
                // The command's mistake, not the disk's: a usage error.
                return Err(loom_engine::EngineError::Usage(format!(
                    "{} exists and is not empty; give the demo a new directory",
                    d.display()
                ))
                .into());
            }
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            d
        }
        None => fresh_dir()?,
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    outln!("demo repository: {}", dir.display());
    std::fs::write(dir.join("stats.py"), files::STATS_PY)?;
    std::fs::write(dir.join("test_stats.py"), files::TEST_STATS_PY)?;
    std::fs::write(dir.join("loom.toml"), files::CONFIG)?;
    git(&dir, &["init", "-q"])?;
    git(&dir, &["add", "."])?;
    git(&dir, &["commit", "-q", "-m", "stats: mean and median"])?;
    loom_engine::project::init(&dir)?;
    std::fs::write(dir.join(".loom").join("demo-replies.toml"), files::REPLIES)?;
    outln!("it holds stats.py, whose median() is wrong for even-length lists, and a failing test.");
    outln!("loom drives the `code` bundle on it; the agents answer from .loom/demo-replies.toml.");
    outln!();
    outln!("task: {}", files::TASK);
    let mut e = engine(&dir)?;
    let report = e.start(files::TASK, loom_guests::CODE_BUNDLE, None)?;
    let mut code = finish(&report);
    if approve && code == exit::WAITING {
        outln!();
        outln!("--approve: approving the final gate as \"demo\"");
        let gate = report
            .waiting_on
            .first()
            .map(|g| g.name.clone())
            .unwrap_or_else(|| "accept".into());
        let report = e.decide(&gate, true, Some("approved by loom demo --approve"), "demo")?;
        code = finish(&report);
    }
    outln!();
    for line in next_steps(&dir, code == exit::WAITING, via_cargo()) {
        outln!("{line}");
    }
    Ok(code)
}

/// Whether this `loom` was started by `cargo run` (from a checkout, not installed): cargo
/// sets `CARGO` for what it runs, and the binary is still in its target directory.
fn via_cargo() -> bool {
    let in_target = std::env::current_exe().ok().is_some_and(|exe| {
        exe.parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .is_some_and(|t| t == "target")
    });
    in_target && std::env::var_os("CARGO").is_some()
}

/// What to try after the demo, as commands that work where the person is: in the demo's
/// directory with an installed `loom`, or from the checkout through `cargo run`.
fn next_steps(dir: &Path, waiting: bool, via_cargo: bool) -> Vec<String> {
    let d = dir.display();
    let mut steps = vec![
        ("log", "every tick, its token, hash and ledger rows"),
        ("replay", "re-run it from the record: no model is called"),
    ];
    if waiting {
        steps.push(("approve accept", "finish the run"));
    }
    let mut out = Vec::new();
    if via_cargo {
        out.push(format!("look around (from this checkout; or `cargo install --path host/cli --locked`, then `cd {d}` and `loom …`):"));
        for (cmd, why) in steps {
            out.push(format!("  cargo run -p loom-cli -- -C {d} {cmd}   # {why}"));
        }
        out.push(format!("  git -C {d} diff   # what the agents changed"));
    } else {
        out.push(format!("look around:  cd {d}"));
        out.push("              git diff       # what the agents changed".into());
        for (cmd, why) in steps {
            out.push(format!("              loom {cmd:<13}# {why}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_work_through_cargo_run_and_installed_alike() {
        let dir = Path::new("/tmp/demo");
        let cargo = next_steps(dir, true, true).join("\n");
        assert!(
            cargo.contains("cargo run -p loom-cli -- -C /tmp/demo log"),
            "{cargo}"
        );
        assert!(cargo.contains("-C /tmp/demo approve accept"), "{cargo}");
        let installed = next_steps(dir, false, false).join("\n");
        assert!(
            installed.contains("cd /tmp/demo") && installed.contains("loom log"),
            "{installed}"
        );
        assert!(!installed.contains("approve"), "{installed}");
    }
}
