//! `loom replay`: its arguments and how they become a replay of the project's (or another)
//! database.

use crate::{render, root};
use anyhow::Result;
use clap::Args;
use loom_engine::project;
use loom_engine::replay::{replay, ReplayOptions, Runs};
use std::path::PathBuf;

/// Re-run recorded runs from the record (no provider, command or patch runs), check every
/// tick reproduces, and evaluate other rules at each commit: "would this rule have caught it?"
#[derive(Args)]
pub struct ReplayArgs {
    /// Which run (default: the newest)
    #[arg(value_name = "RUN")]
    pub run: Option<u64>,
    /// Every run of the project (with --since: from that run id on)
    #[arg(long, conflicts_with = "run")]
    pub all: bool,
    /// With --all: only runs from this run id on
    #[arg(long, requires = "all", value_name = "RUN")]
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
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// With --all: replay this many runs at once (default: one per core)
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    #[command(flatten)]
    pub at: crate::args::At,
}

/// `project_dir` is the `-C` given before or after `replay`.
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
        p.map(|p| crate::errors::read_named(&p, what)).transpose()
    };
    let opts = ReplayOptions {
        invariants: read(args.invariants, "invariants")?,
        only: args.only,
        bundle: read(args.bundle, "bundle")?,
        ticks: args.ticks,
        jobs: args.jobs.map(usize::from),
        config,
        root,
    };
    let reports = replay(&db, runs, &opts)?;
    if reports.is_empty() {
        // Nothing to act on, as for `loom log` and `loom verify`.
        return Err(loom_engine::EngineError::Usage(
            "no recorded runs to replay; `loom runs` lists the runs, `loom run \"…\"` starts one"
                .into(),
        )
        .into());
    }
    render::replay(&reports, args.json)
}
