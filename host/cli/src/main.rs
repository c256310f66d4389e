//! `loom`: the command-line transport. Every command is a call into the engine's command API;
//! this file only parses arguments, renders results and maps outcomes to exit codes.

mod demo;
mod demo_files;
mod render;
mod replay_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use loom_engine::{project, DriveReport, Engine, EngineError, ErrorKind};
use loom_kernel::RunStatus;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes (also in the README).
pub mod exit {
    /// The command did what was asked; a driven run finished.
    pub const OK: u8 = 0;
    /// Something failed that is not one of the cases below (disk, database, git…).
    pub const ERROR: u8 = 1;
    /// The command was wrong: bad arguments, nothing to act on, a task already open.
    pub const USAGE: u8 = 2;
    /// The project's configuration is wrong.
    pub const CONFIG: u8 = 3;
    /// A rule refused what was asked (the refusal is recorded; nothing else changed).
    pub const REFUSED: u8 = 4;
    /// The bundle could not be loaded, or it faulted.
    pub const BUNDLE: u8 = 5;
    /// The run is waiting for a human to decide a gate.
    pub const WAITING: u8 = 10;
    /// The run stopped: a rule fired, a step failed, or an effect is uncertain. `loom status`.
    pub const STOPPED: u8 = 11;
    /// The run ended as failed (the bundle gave up).
    pub const FAILED: u8 = 12;
    /// `loom verify` found a broken hash chain, or `loom replay` a tick that does not
    /// reproduce.
    pub const BROKEN: u8 = 13;
    /// `loom replay`: a rule fired somewhere in the replayed runs.
    pub const FIRED: u8 = 14;
}

#[derive(Parser)]
#[command(name = "loom", version, about = "Multi-step agent work as a transaction", long_about = None)]
struct Cli {
    /// The project directory (default: the nearest directory upwards with a .loom/)
    #[arg(long, short = 'C', global = true)]
    project: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create .loom/ (database and a commented config) in the current directory
    Init,
    /// Start a task and drive it until it finishes or needs a human
    Run {
        /// What should be done
        #[arg(required = true, num_args = 1..)]
        task: Vec<String>,
        /// A bundle component to use instead of the built-in `code` bundle
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// One provider for every agent role, e.g. scripted:replies.toml
        #[arg(long)]
        provider: Option<String>,
    },
    /// Show the open task, its run, pending gates, uncertain effects and violations
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List gates waiting for a decision
    Gates {
        #[arg(long)]
        json: bool,
        /// Include decided gates
        #[arg(long)]
        all: bool,
    },
    /// Approve a gate (by name or id) and continue the run
    Approve {
        gate: String,
        #[arg(long)]
        note: Option<String>,
        /// Who decides (default: $USER)
        #[arg(long = "as")]
        who: Option<String>,
    },
    /// Reject a gate (by name or id) and continue the run
    Reject {
        gate: String,
        #[arg(long, required = true)]
        reason: String,
        #[arg(long = "as")]
        who: Option<String>,
    },
    /// Continue the open task's run after a crash or a stop
    Resume,
    /// Drop the open task
    Abandon {
        #[arg(long)]
        reason: Option<String>,
    },
    /// The tick timeline of a run: tokens, steps, deciders, ledger keys
    Log {
        #[arg(long)]
        json: bool,
        /// Which run (default: the current one)
        #[arg(long)]
        run: Option<u64>,
    },
    /// Check that no tick was edited, deleted or reordered (the hash chain)
    Verify {
        /// Which run (default: every run)
        run: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Re-run recorded runs from the record (no provider, command or patch runs), check every
    /// tick reproduces, and evaluate other rules at each commit: "would this rule have caught it?"
    Replay(replay_cmd::ReplayArgs),
    /// Run the `code` bundle on a throwaway repository with a real bug, offline
    Demo {
        /// Where to create the demo repository (default: a new temporary directory)
        dir: Option<PathBuf>,
        /// Also approve the final gate, finishing the run
        #[arg(long)]
        approve: bool,
    },
    /// Work with the configured providers
    Providers {
        #[command(subcommand)]
        command: ProvidersCommand,
    },
    /// Work with bundle components
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
}

#[derive(Subcommand)]
enum ProvidersCommand {
    /// Build every provider the config names and probe it without a billed call
    Check {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Load a component and report what it targets, imports and declares
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", render::error(&e));
            let code = match e.downcast_ref::<EngineError>().map(EngineError::kind) {
                Some(ErrorKind::Usage) => exit::USAGE,
                Some(ErrorKind::Config) => exit::CONFIG,
                Some(ErrorKind::Refused) => exit::REFUSED,
                Some(ErrorKind::Bundle) => exit::BUNDLE,
                _ => exit::ERROR,
            };
            ExitCode::from(code)
        }
    }
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().context("cannot read the current directory")
}

fn root(cli_project: &Option<PathBuf>) -> Result<PathBuf> {
    let start = match cli_project {
        Some(p) => p.clone(),
        None => cwd()?,
    };
    Ok(project::find_root(&start)?)
}

fn engine(root: &Path) -> Result<Engine> {
    Ok(Engine::open(
        root,
        Box::new(render::Printer::default()),
        "cli",
    )?)
}

fn who(explicit: Option<String>) -> String {
    explicit
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "someone".into())
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Init => {
            let dir = match &cli.project {
                Some(p) => p.clone(),
                None => cwd()?,
            };
            let r = project::init(&dir)?;
            println!("loom project at {}", r.root.display());
            if let Some(c) = r.wrote_config {
                println!("  wrote {} (every setting, commented)", c.display());
            }
            println!(
                "  {} {}",
                if r.created_db { "created" } else { "kept" },
                project::db_path(&dir).display()
            );
            Ok(exit::OK)
        }
        Command::Run {
            task,
            bundle,
            provider,
        } => {
            let dir = match &cli.project {
                Some(p) => p.clone(),
                None => cwd()?,
            };
            // The first `loom run` in a directory initialises it.
            let root = match project::find_root(&dir) {
                Ok(r) => r,
                Err(EngineError::NoProject(_)) => project::init(&dir)?.root,
                Err(e) => return Err(e.into()),
            };
            let wasm = match &bundle {
                Some(p) => std::fs::read(p)
                    .with_context(|| format!("cannot read bundle {}", p.display()))?,
                None => loom_guests::CODE_BUNDLE.to_vec(),
            };
            let mut e = engine(&root)?;
            let report = e.start(&task.join(" "), &wasm, provider.as_deref())?;
            Ok(finish(&report))
        }
        Command::Status { json } => {
            let e = engine(&root(&cli.project)?)?;
            let s = e.status()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                render::status(&s);
            }
            Ok(exit::OK)
        }
        Command::Gates { json, all } => {
            let e = engine(&root(&cli.project)?)?;
            let gates = e.gates(all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&gates)?);
            } else {
                render::gates(&gates);
            }
            Ok(exit::OK)
        }
        Command::Approve { gate, note, who: w } => {
            let mut e = engine(&root(&cli.project)?)?;
            let report = e.decide(&gate, true, note.as_deref(), &who(w))?;
            Ok(finish(&report))
        }
        Command::Reject {
            gate,
            reason,
            who: w,
        } => {
            let mut e = engine(&root(&cli.project)?)?;
            let report = e.decide(&gate, false, Some(&reason), &who(w))?;
            Ok(finish(&report))
        }
        Command::Resume => {
            let mut e = engine(&root(&cli.project)?)?;
            let report = e.resume()?;
            Ok(finish(&report))
        }
        Command::Abandon { reason } => {
            let mut e = engine(&root(&cli.project)?)?;
            let report = e.abandon(reason.as_deref())?;
            println!(
                "task #{} abandoned; the project is free for a new task",
                report.task.id
            );
            Ok(exit::OK)
        }
        Command::Log { json, run } => {
            let e = engine(&root(&cli.project)?)?;
            let log = e.log(run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&log)?);
            } else {
                render::log(&log);
            }
            Ok(exit::OK)
        }
        Command::Verify { run, json } => {
            let e = engine(&root(&cli.project)?)?;
            let reports = e.verify(run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            }
            let mut code = exit::OK;
            for r in &reports {
                match &r.broken {
                    None if !json => println!("run #{}: {} ticks, chain intact", r.run, r.ticks),
                    None => {}
                    Some(b) => {
                        code = exit::BROKEN;
                        if !json {
                            println!("run #{}: BROKEN at tick {}: {}", r.run, b.seq, b.problem);
                            println!("  expected {}", b.expected);
                            println!("  found    {}", b.found);
                        }
                    }
                }
            }
            Ok(code)
        }
        Command::Replay(args) => replay_cmd::run(args, &cli.project),
        Command::Demo { dir, approve } => demo::run(dir, approve),
        Command::Providers {
            command: ProvidersCommand::Check { json },
        } => {
            let checks = engine(&root(&cli.project)?)?.check_providers();
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                for c in &checks {
                    println!(
                        "{} {}  (roles: {})\n    {}",
                        if c.ok { "ok  " } else { "FAIL" },
                        c.spec,
                        c.roles.join(", "),
                        c.detail
                    );
                }
            }
            Ok(if checks.iter().all(|c| c.ok) {
                exit::OK
            } else {
                exit::CONFIG
            })
        }
        Command::Bundle {
            command: BundleCommand::Check { file },
        } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let runtime = loom_runtime::Runtime::new(loom_runtime::Limits::default(), None)?;
            // A component that cannot be read or loaded exits as a bundle fault, as in `run`.
            let report = runtime.inspect(&wasm).map_err(EngineError::Bundle)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            // Loading also checks the version, reads the manifest and checks it.
            let bundle = runtime.load_bundle(&wasm).map_err(EngineError::Bundle)?;
            let m = bundle.manifest();
            println!(
                "bundle {} {} loads: {} phases, {} steps, {} gates, {} rules",
                m.name,
                m.version,
                m.phases.len(),
                m.steps.len(),
                m.gates.len(),
                m.rules.len()
            );
            Ok(exit::OK)
        }
    }
}

/// Prints where a driven run ended and returns the matching exit code.
pub fn finish(report: &DriveReport) -> u8 {
    render::outcome(report);
    match report.run.status {
        RunStatus::Done | RunStatus::Abandoned => exit::OK,
        RunStatus::Waiting => exit::WAITING,
        RunStatus::Failed => exit::FAILED,
        RunStatus::Stopped | RunStatus::Running => exit::STOPPED,
    }
}
