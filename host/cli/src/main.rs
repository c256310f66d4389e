//! `loom`: the command-line transport. Every command is a call into the engine's command API;
//! this file only parses arguments, renders results and maps outcomes to exit codes.

// Output that never panics: a closed pipe (`loom run … | head -2`) or a dead terminal means
// "stop printing", never "stop the run". `println!` would panic inside the tick loop.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout();
        let _ = write!(o, $($t)*);
        let _ = o.flush();
    }};
}
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
#[allow(unused_macros)]
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

mod demo;
mod demo_files;
mod errors;
mod forward;
mod mcp_cmd;
mod render;
mod replay_cmd;
mod serve_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use loom_engine::{project, reads, AbandonOutcome, DriveReport, Engine, EngineError};
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
    /// Another loom process drives this project (it is named); nothing was done.
    pub const BUSY: u8 = 6;
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
        /// If another loom process drives this project, wait for it instead of failing
        #[arg(long)]
        wait: bool,
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
        /// The gate's name or id (`loom gates` lists them)
        gate: String,
        /// A note kept with the decision
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        decide: DecideArgs,
    },
    /// Reject a gate (by name or id) and continue the run
    Reject {
        /// The gate's name or id (`loom gates` lists them)
        gate: String,
        /// Why: the agents read it
        #[arg(long, required = true)]
        reason: String,
        #[command(flatten)]
        decide: DecideArgs,
    },
    /// Continue the open task's run after a crash or a stop
    Resume {
        /// If another loom process drives this project, wait for it instead of failing
        #[arg(long)]
        wait: bool,
    },
    /// Drop the open task (with another process driving it, at its next tick boundary)
    Abandon {
        /// Why the task is dropped (kept in the record)
        #[arg(long)]
        reason: Option<String>,
        /// Who abandons (default: $USER)
        #[arg(long = "as")]
        who: Option<String>,
    },
    /// The tick timeline of a run: tokens, steps, deciders, ledger keys
    Log {
        #[arg(long)]
        json: bool,
        /// Which run (default: the current one)
        #[arg(long)]
        run: Option<u64>,
        /// Only the ticks after this seq (a page: reads only those ticks)
        #[arg(long)]
        since: Option<u64>,
        /// At most this many ticks (a page; with --since, the next page starts at the last
        /// seq printed)
        #[arg(long)]
        limit: Option<u32>,
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
    /// Serve this project to an MCP host over stdio (`claude mcp add loom -- loom mcp`):
    /// tools and resources for an agent, which can never decide a human's gate
    Mcp,
    /// Work with bundle components
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Serve this project over HTTP (a JSON API and events) until stopped; the CLI sends its
    /// driving commands there meanwhile
    Serve(serve_cmd::ServeArgs),
}

#[derive(clap::Args)]
struct DecideArgs {
    /// Who decides (default: $USER)
    #[arg(long = "as")]
    who: Option<String>,
    /// The shown hash (or its first 8+ hex digits) of the gate text you read, as `loom gates`
    /// prints it: refused if the gate now shows something else
    #[arg(long)]
    shown: Option<String>,
    /// Decide a gate an agent was to decide (recorded as a human decision)
    #[arg(long)]
    take_over: bool,
    /// If another loom process drives this project, wait for it instead of failing
    #[arg(long)]
    wait: bool,
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
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = errors::wants_json(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // `--help` and `--version` are not errors; a refused command line under `--json`
        // is a usage error in JSON like any other.
        Err(e) if json && e.use_stderr() => {
            let text = e.to_string();
            let message = text.trim().trim_start_matches("error: ").to_owned();
            errors::print_json("usage", message, exit::USAGE);
            return ExitCode::from(exit::USAGE);
        }
        Err(e) => e.exit(),
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(errors::report(&e, json)),
    }
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().context("cannot read the current directory")
}

/// `-C DIR` (relative to the current directory) or the current directory, made absolute:
/// effects run commands and `git apply` in the project root whatever the current directory.
fn start_dir(cli_project: &Option<PathBuf>) -> Result<PathBuf> {
    let cwd = cwd()?;
    Ok(match cli_project {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => cwd.join(p),
        None => cwd,
    })
}

fn root(cli_project: &Option<PathBuf>) -> Result<PathBuf> {
    Ok(project::find_root(&start_dir(cli_project)?)?)
}

/// Takes the driver lock for a command that writes: at once, or with `--wait` after the
/// current driver, saying whom it waits for.
fn drive_lock(e: &mut Engine, wait: bool) -> Result<()> {
    if wait {
        e.acquire_driver_wait(None, |h| {
            errln!(
                "waiting for {} to finish driving this project…",
                h.describe()
            );
        })?;
    }
    Ok(())
}

fn decide(
    cli: &Option<PathBuf>,
    gate: String,
    approved: bool,
    note: Option<String>,
    a: DecideArgs,
) -> Result<u8> {
    let root = root(cli)?;
    if let Some(s) = forward::server(&root) {
        let body = serde_json::json!({
            "approved": approved, "note": note, "shown_hash": a.shown,
            "take_over": a.take_over, "as": who(a.who),
        });
        return forward::decide(&root, &s, &gate, body);
    }
    let mut e = engine(&root)?;
    drive_lock(&mut e, a.wait)?;
    let mut d = loom_engine::Decision::new(
        &gate,
        approved,
        note.as_deref(),
        loom_engine::Origin::human(who(a.who), "cli"),
    );
    d.shown_hash = a.shown;
    d.take_over = a.take_over;
    let report = e.decide_as(&d)?;
    Ok(finish(&report))
}

fn engine(root: &Path) -> Result<Engine> {
    Ok(Engine::open(
        root,
        Box::new(render::Printer::default()),
        "cli",
    )?)
}

/// The project's database for a command that only reads: no lock, no migration, and it works
/// on a read-only `.loom`.
fn read_only(root: &Path) -> Result<loom_kernel::Store> {
    Ok(loom_kernel::Store::open_read_only(&project::db_path(root)).map_err(EngineError::from)?)
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
            let dir = start_dir(&cli.project)?;
            let r = project::init(&dir)?;
            outln!("loom project at {}", r.root.display());
            if let Some(c) = r.wrote_config {
                outln!("  wrote {} (every setting, commented)", c.display());
            }
            outln!(
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
            wait,
        } => {
            let dir = start_dir(&cli.project)?;
            // A spec with a secret in it is refused before even `.loom/` is created.
            if let Some(spec) = &provider {
                loom_providers::validate_spec(spec).map_err(EngineError::from)?;
            }
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
            if let Some(s) = forward::server(&root) {
                return forward::run(&root, &s, &task.join(" "), provider, bundle.is_some());
            }
            let mut e = engine(&root)?;
            drive_lock(&mut e, wait)?;
            let report = e.start(&task.join(" "), &wasm, provider.as_deref())?;
            Ok(finish(&report))
        }
        Command::Status { json } => {
            let root = root(&cli.project)?;
            let mut s = reads::status(&read_only(&root)?)?;
            reads::with_driver(&mut s, &root);
            // Reading needs no config, but a broken one is worth knowing before the next run.
            if let Err(e) = loom_engine::Config::load(&root) {
                errln!("warning: {e}");
            }
            if json {
                print_json(&loom_views::Status::from(&s))?;
            } else {
                render::status(&s);
            }
            Ok(exit::OK)
        }
        Command::Gates { json, all } => {
            let gates = reads::gates(&read_only(&root(&cli.project)?)?, all)?;
            if json {
                print_json(&gates.iter().map(loom_views::Gate::from).collect::<Vec<_>>())?;
            } else {
                render::gates(&gates);
            }
            Ok(exit::OK)
        }
        Command::Approve {
            gate,
            note,
            decide: a,
        } => decide(&cli.project, gate, true, note, a),
        Command::Reject {
            gate,
            reason,
            decide: a,
        } => decide(&cli.project, gate, false, Some(reason), a),
        Command::Resume { wait } => {
            let root = root(&cli.project)?;
            if let Some(s) = forward::server(&root) {
                return forward::resume(&root, &s);
            }
            let mut e = engine(&root)?;
            drive_lock(&mut e, wait)?;
            let report = e.resume()?;
            Ok(finish(&report))
        }
        Command::Abandon { reason, who: w } => {
            let root = root(&cli.project)?;
            if let Some(s) = forward::server(&root) {
                return forward::abandon(&s, reason, who(w));
            }
            let mut e = engine(&root)?;
            let origin = loom_engine::Origin::human(who(w), "cli");
            let wait = std::time::Duration::from_secs(3);
            match e.request_abandon(reason.as_deref(), &origin, wait)? {
                AbandonOutcome::Recorded(report) => outln!(
                    "task #{} abandoned; the project is free for a new task",
                    report.task.id
                ),
                AbandonOutcome::Requested { run, holder } => outln!(
                    "abandon of run #{run} requested: {} drives it and records the abandon \
                     when its current step ends (the step's result is kept in the ledger); \
                     `loom status` shows when it has",
                    holder.describe()
                ),
            }
            Ok(exit::OK)
        }
        Command::Log {
            json,
            run,
            since,
            limit,
        } => {
            let store = read_only(&root(&cli.project)?)?;
            let log = match (since, limit) {
                (None, None) => reads::log(&store, run)?,
                _ => {
                    let run = match run {
                        Some(r) => r,
                        None => {
                            reads::current_run(&store)?
                                .ok_or_else(|| {
                                    EngineError::Usage(
                                        "no runs yet; start one with `loom run \"…\"`".into(),
                                    )
                                })?
                                .id
                        }
                    };
                    reads::log_page(&store, run, since.unwrap_or(0), limit.unwrap_or(u32::MAX))?
                }
            };
            if json {
                print_json(
                    &log.iter()
                        .map(loom_views::LogEntry::from)
                        .collect::<Vec<_>>(),
                )?;
            } else {
                render::log(&log);
            }
            Ok(exit::OK)
        }
        Command::Verify { run, json } => {
            let reports = reads::verify(&read_only(&root(&cli.project)?)?, run)?;
            if json {
                print_json(
                    &reports
                        .iter()
                        .map(loom_views::ChainReport::from)
                        .collect::<Vec<_>>(),
                )?;
            }
            let mut code = exit::OK;
            for r in &reports {
                match &r.broken {
                    None if !json => outln!("run #{}: {} ticks, chain intact", r.run, r.ticks),
                    None => {}
                    Some(b) => {
                        code = exit::BROKEN;
                        if !json {
                            outln!("run #{}: BROKEN at tick {}: {}", r.run, b.seq, b.problem);
                            outln!("  expected {}", b.expected);
                            outln!("  found    {}", b.found);
                        }
                    }
                }
            }
            Ok(code)
        }
        Command::Replay(args) => replay_cmd::run(args, &cli.project),
        Command::Serve(args) => {
            let dir = start_dir(&cli.project)?;
            let root = match project::find_root(&dir) {
                Ok(r) => r,
                Err(EngineError::NoProject(_)) => project::init(&dir)?.root,
                Err(e) => return Err(e.into()),
            };
            serve_cmd::run(args, &root)
        }
        Command::Demo { dir, approve } => demo::run(dir, approve),
        Command::Mcp => mcp_cmd::run(&root(&cli.project)?),
        Command::Providers {
            command: ProvidersCommand::Check { json },
        } => {
            let checks = engine(&root(&cli.project)?)?.check_providers();
            if json {
                outln!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                for c in &checks {
                    outln!(
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
            outln!("{}", serde_json::to_string_pretty(&report)?);
            // Loading also checks the version, reads the manifest and checks it.
            let bundle = runtime.load_bundle(&wasm).map_err(EngineError::Bundle)?;
            let m = bundle.manifest();
            outln!(
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

/// Prints a view as `--json` does: pretty, one document on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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
