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

mod args;
mod bundle_cmd;
mod color;
mod demo;
mod demo_files;
mod docs_cmd;
mod edit_cmd;
mod errors;
mod exit;
mod forward;
mod log_cmd;
mod mcp_cmd;
mod render;
mod render_gates;
mod replay_cmd;
mod runs_cmd;
mod scaffold;
mod serve_cmd;

use anyhow::{Context, Result};
use args::{BundleCommand, Cli, Command, DecideArgs, ProvidersCommand};
use clap::Parser;
use loom_engine::{project, reads, AbandonOutcome, DriveReport, Engine, EngineError};
use loom_kernel::RunStatus;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = errors::wants_json(&args);
    color::init(color::from_args(&args));
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
/// A `-C` that names no directory is a usage error saying so.
fn start_dir(cli_project: &Option<PathBuf>) -> Result<PathBuf> {
    let cwd = cwd()?;
    let Some(p) = cli_project else {
        return Ok(cwd);
    };
    let dir = if p.is_absolute() {
        p.clone()
    } else {
        cwd.join(p)
    };
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(EngineError::Usage(format!(
            "-C {}: {} {what}; give the project's directory",
            p.display(),
            dir.display()
        ))
        .into());
    }
    Ok(dir)
}

fn root(cli_project: &Option<PathBuf>) -> Result<PathBuf> {
    Ok(project::find_root(&start_dir(cli_project)?)?)
}

/// The project root, initialising the directory if it holds none (the first `loom run` or
/// `loom serve` in a directory does).
fn root_or_init(cli_project: &Option<PathBuf>) -> Result<PathBuf> {
    let dir = start_dir(cli_project)?;
    match project::find_root(&dir) {
        Ok(r) => Ok(r),
        Err(EngineError::NoProject(_)) => Ok(project::init(&dir)?.root),
        Err(e) => Err(e.into()),
    }
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
    gate: String,
    approved: bool,
    note: Option<String>,
    edited: Option<edit_cmd::Edited>,
    a: DecideArgs,
) -> Result<u8> {
    let root = root(&a.at.project)?;
    // An edit is bound to the text it was made from: a gate that reopened meanwhile refuses it.
    let shown = a
        .shown
        .or_else(|| edited.as_ref().map(|e| e.shown_hash.clone()));
    let edited = edited.map(|e| e.text);
    if let Some(s) = forward::server(&root) {
        let body = serde_json::json!({
            "approved": approved, "note": note, "shown_hash": shown,
            "take_over": a.take_over, "as": who(a.who), "edited": edited,
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
    d.shown_hash = shown;
    d.take_over = a.take_over;
    d.edited = edited;
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
    // `loom -C DIR CMD` and `loom CMD -C DIR` alike; a command that works on no project
    // refuses it rather than ignore it.
    let project = match (cli.command.at(), &cli.project) {
        (Some(at), top) => at.project.clone().or_else(|| top.clone()),
        (None, Some(p)) => {
            return Err(EngineError::Usage(format!(
                "-C {} names a project, and this command works on none (`loom demo DIR` \
                 takes the directory to create)",
                p.display()
            ))
            .into())
        }
        (None, None) => None,
    };
    let project = &project;
    match cli.command {
        Command::Init { .. } => {
            let dir = start_dir(project)?;
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
            ..
        } => {
            // A spec with a secret in it is refused before even `.loom/` is created, and so
            // is a bundle file that is not there.
            if let Some(spec) = &provider {
                loom_providers::validate_spec(spec).map_err(EngineError::from)?;
            }
            let wasm = match &bundle {
                Some(p) => errors::read_named(p, "the bundle")?,
                None => loom_guests::CODE_BUNDLE.to_vec(),
            };
            // The first `loom run` in a directory initialises it.
            let root = root_or_init(project)?;
            if let Some(s) = forward::server(&root) {
                return forward::run(&root, &s, &task.join(" "), provider, bundle.is_some());
            }
            let mut e = engine(&root)?;
            drive_lock(&mut e, wait)?;
            let report = e.start(&task.join(" "), &wasm, provider.as_deref())?;
            Ok(finish(&report))
        }
        Command::Status { json, .. } => {
            let root = root(project)?;
            let mut s = reads::status(&read_only(&root)?)?;
            reads::with_driver(&mut s, &root);
            // Reading needs no config, but a broken one is worth knowing before the next run.
            if let Err(e) = loom_engine::Config::load(&root) {
                errln!("warning: {e}");
            }
            if json.json {
                print_json(&loom_views::Status::from(&s))?;
            } else {
                render::status(&s);
            }
            Ok(exit::OK)
        }
        Command::Runs { json, .. } => runs_cmd::run(&read_only(&root(project)?)?, json.json),
        Command::Gates { json, all, .. } => {
            let store = read_only(&root(project)?)?;
            let gates = reads::gates(&store, all)?;
            if json.json {
                print_json(&gates.iter().map(loom_views::Gate::from).collect::<Vec<_>>())?;
            } else {
                render_gates::gates(&store, &gates, all)?;
            }
            Ok(exit::OK)
        }
        Command::Approve {
            gate,
            note,
            edit,
            edited,
            decide: a,
        } => {
            let root = root(&a.at.project)?;
            let edited = edit_cmd::edited_text(&root, &gate, edit, edited.as_deref())?;
            decide(gate, true, note, edited, a)
        }
        Command::Reject {
            gate,
            reason,
            decide: a,
        } => decide(gate, false, Some(reason), None, a),
        Command::Resume { wait, provider, .. } => {
            if let Some(spec) = &provider {
                loom_providers::validate_spec(spec).map_err(EngineError::from)?;
            }
            let root = root(project)?;
            if let Some(s) = forward::server(&root) {
                if provider.is_some() {
                    return Err(EngineError::Usage(format!(
                        "the loom server at {} drives this project; stop it to resume on \
                         another provider",
                        s.addr
                    ))
                    .into());
                }
                return forward::resume(&root, &s);
            }
            let mut e = engine(&root)?;
            drive_lock(&mut e, wait)?;
            let report = e.resume_on(provider.as_deref())?;
            Ok(finish(&report))
        }
        Command::Fork {
            run,
            seq,
            task,
            provider,
            bundle,
            settings,
            replace,
            ..
        } => {
            if let Some(spec) = &provider {
                loom_providers::validate_spec(spec).map_err(EngineError::from)?;
            }
            let root = root(project)?;
            if let Some(s) = forward::server(&root) {
                if bundle.is_some() {
                    return Err(EngineError::Usage(format!(
                        "the loom server at {} drives this project; stop it to fork with \
                         another bundle",
                        s.addr
                    ))
                    .into());
                }
                let body = serde_json::json!({"at": seq, "task": task, "provider": provider,
                    "settings": settings, "replace": replace});
                return forward::fork(&root, &s, run, body);
            }
            let bundle = match &bundle {
                Some(path) => Some(
                    std::fs::read(path)
                        .with_context(|| format!("reading the bundle {}", path.display()))?,
                ),
                None => None,
            };
            let mut e = engine(&root)?;
            drive_lock(&mut e, false)?;
            let req = loom_engine::ForkRequest {
                run,
                at: seq,
                title: task,
                provider,
                bundle,
                settings_from_config: settings,
                replace,
            };
            let forked = e.fork(&req)?;
            if let Some(task) = forked.replaced {
                outln!("task #{task} abandoned to make room for the fork");
            }
            if !forked.reverted.is_empty() {
                outln!(
                    "working tree taken back to tick {}: {} diff(s) run #{} applied after it \
                     came out ({})",
                    forked.at,
                    forked.reverted.len(),
                    forked.parent,
                    forked.reverted.join(", ")
                );
            }
            outln!(
                "run #{} forked from run #{} after tick {}: ticks 1 to {} re-executed from the \
                 record (no provider call, no command); it goes on from tick {}",
                forked.report.run.id,
                forked.parent,
                forked.at,
                forked.reexecuted,
                forked.at + 2
            );
            Ok(finish(&forked.report))
        }
        Command::Abandon { reason, who: w, .. } => {
            let root = root(project)?;
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
            last,
            since,
            limit,
            follow,
            ..
        } => log_cmd::run(
            &root(project)?,
            json.json,
            run,
            log_cmd::Page { last, since, limit },
            follow,
        ),
        Command::Verify { run, json, .. } => log_cmd::verify(&root(project)?, run, json.json),
        Command::Replay(args) => replay_cmd::run(args, project),
        Command::Serve(args) => {
            let root = root_or_init(project)?;
            serve_cmd::run(args, &root)
        }
        Command::Demo { dir, approve } => demo::run(dir, approve),
        Command::Mcp { .. } => mcp_cmd::run(&root(project)?),
        Command::Providers {
            command: ProvidersCommand::Check { json, .. },
        } => providers_check(&root(project)?, json.json),
        Command::Bundle {
            command: BundleCommand::Check { file, json, .. },
        } => bundle_cmd::check(&file, json.json, project),
        Command::Bundle {
            command: BundleCommand::New { name, lang, dir },
        } => scaffold::new(&name, lang, dir),
        Command::Completions { shell } => docs_cmd::completions(shell),
        Command::Man => docs_cmd::man(),
    }
}

fn providers_check(root: &Path, json: bool) -> Result<u8> {
    let checks = engine(root)?.check_providers();
    if json {
        outln!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let verdict = match (c.ok, c.cost_known) {
                (false, _) => color::paint(color::Style::Red, "FAIL"),
                (true, false) => color::paint(color::Style::Yellow, "ok  "),
                (true, true) => color::paint(color::Style::Green, "ok  "),
            };
            outln!(
                "{verdict} {}  (roles: {})\n    {}",
                c.spec,
                c.roles.join(", "),
                c.detail
            );
            if let Some(w) = &c.cost_warning {
                outln!("    {}", color::paint(color::Style::Yellow, w));
            } else if c.ok && !c.cost_known {
                outln!(
                    "    cost: not reported, and no price for its model in the config (no dollar \
                     budget is set, so nothing depends on it)"
                );
            }
        }
    }
    Ok(if checks.iter().all(|c| c.ok && c.cost_warning.is_none()) {
        exit::OK
    } else {
        exit::CONFIG
    })
}

/// Prints a view as `--json` does: pretty, one document on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints where a driven run ended and returns the matching exit code: a run the bundle
/// faulted is the bundle's fault (5), not a stop a person can fix by resuming (11).
pub fn finish(report: &DriveReport) -> u8 {
    render::outcome(report);
    match report.run.status {
        RunStatus::Done | RunStatus::Abandoned => exit::OK,
        RunStatus::Waiting => exit::WAITING,
        RunStatus::Failed => exit::FAILED,
        RunStatus::Stopped
            if matches!(report.stop, Some(loom_engine::Stop::BundleFault { .. })) =>
        {
            exit::BUNDLE
        }
        RunStatus::Stopped | RunStatus::Running => exit::STOPPED,
    }
}
