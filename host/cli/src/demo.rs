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
                bail!(
                    "{} exists and is not empty; give the demo a new directory",
                    d.display()
                );
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
    outln!("look around:  cd {}", dir.display());
    outln!("              loom log       # every tick, its token, hash and ledger rows");
    outln!("              git diff       # what the agents changed");
    outln!("              loom replay    # re-run it from the record: no model is called");
    if code == exit::WAITING {
        outln!("              loom approve accept   # finish the run");
    }
    Ok(code)
}
