//! `loom replay`: its arguments and how they become a replay of the project's (or another)
//! database.

use crate::{render, root};
use anyhow::{Context, Result};
use clap::Args;
use loom_engine::project;
use loom_engine::replay::{replay, ReplayOptions, Runs};
use std::path::PathBuf;

/// Re-run recorded runs from the record (no provider, command or patch runs), check every
/// tick reproduces, and evaluate other rules at each commit: "would this rule have caught it?"
#[derive(Args)]
pub struct ReplayArgs {
    /// Which run (default: the newest)
    pub run: Option<u64>,
    /// Every run of the project (with --since: from that run id on)
    #[arg(long, conflicts_with = "run")]
    pub all: bool,
    #[arg(long, requires = "all")]
    pub since: Option<u64>,
    /// A component of the `invariants` world to evaluate at every tick
    #[arg(long)]
    pub invariants: Option<PathBuf>,
    /// Only evaluate --invariants on the recorded trajectory; do not re-run the bundle
    #[arg(long, requires = "invariants", conflicts_with = "bundle")]
    pub only: bool,
    /// Re-run the recording with this bundle instead of the one it was recorded with
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Read this database file instead of the project's (e.g. a copy from another machine)
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Show every tick: its token, step, decider, ledger rows, whether it reproduced, and
    /// the rules that fire on it
    #[arg(long)]
    pub ticks: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReplayArgs, project_dir: &Option<PathBuf>) -> Result<u8> {
    let (db, root, config) = match args.db {
        Some(d) => (d, None, None),
        None => {
            let root = root(project_dir)?;
            let config = loom_engine::Config::load(&root)?;
            (project::db_path(&root), Some(root), Some(config))
        }
    };
    let runs = match (args.run, args.all) {
        (Some(r), _) => Runs::One(r),
        (None, true) => Runs::All { since: args.since },
        (None, false) => Runs::Latest,
    };
    let read = |p: Option<PathBuf>, what: &str| -> Result<Option<Vec<u8>>> {
        p.map(|p| std::fs::read(&p).with_context(|| format!("cannot read {what} {}", p.display())))
            .transpose()
    };
    let opts = ReplayOptions {
        invariants: read(args.invariants, "invariants")?,
        only: args.only,
        bundle: read(args.bundle, "bundle")?,
        ticks: args.ticks,
        config,
        root,
    };
    let reports = replay(&db, runs, &opts)?;
    render::replay(&reports, args.json)
}
