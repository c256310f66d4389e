//! The command line: every command, argument and flag, each with its help text (a test walks
//! the whole tree and fails on one without).

use crate::{replay_cmd, serve_cmd};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "loom",
    version,
    about = "Multi-step agent work as a transaction",
    long_about = None,
    after_help = crate::exit::help(),
)]
pub struct Cli {
    /// The project directory (default: the nearest directory upwards with a .loom/)
    #[arg(long = "project", short = 'C', value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// When to colour the output: auto (a terminal, and NO_COLOR unset), always or never
    #[arg(long, value_enum, default_value_t = crate::color::When::Auto, global = true)]
    pub color: crate::color::When,
    #[command(subcommand)]
    pub command: Command,
}

/// `-C DIR`, on every command that works on a project (and only there).
#[derive(clap::Args, Clone, Default)]
pub struct At {
    /// The project directory (default: the nearest directory upwards with a .loom/)
    #[arg(long = "project", short = 'C', value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// `--json`, where a command can answer in JSON.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct Json {
    /// Print one JSON document (the vocabulary of the HTTP API) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create .loom/ (database and a commented config) in the current directory
    Init {
        #[command(flatten)]
        at: At,
    },
    /// Start a task and drive it until it finishes or needs a human
    Run {
        /// What should be done
        #[arg(required = true, num_args = 1.., value_name = "TASK")]
        task: Vec<String>,
        /// A bundle component to use instead of the built-in `code` bundle
        #[arg(long, value_name = "FILE.wasm")]
        bundle: Option<PathBuf>,
        /// One provider for every agent role, e.g. scripted:replies.toml
        #[arg(long, value_name = "SPEC")]
        provider: Option<String>,
        /// If another loom process drives this project, wait for it instead of failing
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        at: At,
    },
    /// Show the open task, its run, pending gates, uncertain effects and violations
    Status {
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        at: At,
    },
    /// List the project's runs, newest first: status, task, ticks, when each started
    Runs {
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        at: At,
    },
    /// List gates waiting for a decision
    Gates {
        #[command(flatten)]
        json: Json,
        /// Include decided gates, with who decided, how and when
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        at: At,
    },
    /// Approve a gate (by name or id) and continue the run
    Approve {
        /// The gate's name or id (`loom gates` lists them)
        gate: String,
        /// A note kept with the decision
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Approve with edits: open $VISUAL or $EDITOR on what the gate shows; what you save
        /// is approved instead (a gate its bundle marks editable)
        #[arg(long, conflicts_with = "edited")]
        edit: bool,
        /// Approve with edits read from FILE (`-`: standard input) instead of an editor
        #[arg(long, value_name = "FILE")]
        edited: Option<PathBuf>,
        #[command(flatten)]
        decide: DecideArgs,
    },
    /// Reject a gate (by name or id) and continue the run
    Reject {
        /// The gate's name or id (`loom gates` lists them)
        gate: String,
        /// Why: the agents read it
        #[arg(long, required = true, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        decide: DecideArgs,
    },
    /// Continue the open task's run after a crash or a stop
    Resume {
        /// If another loom process drives this project, wait for it instead of failing
        #[arg(long)]
        wait: bool,
        /// Continue on this provider for every agent role from now on (recorded in the run,
        /// so a replay follows it), e.g. after the configured one ran out of credit
        #[arg(long, value_name = "SPEC")]
        provider: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// Start a new run from a recorded run's tick (time travel): its ticks 1..SEQ are
    /// re-executed from the record (no provider call, no command), the working tree is taken
    /// back to that tick, and the fork goes on live from SEQ+1 with what you change
    Fork {
        /// The run to fork (`loom runs` lists them)
        #[arg(value_name = "RUN")]
        run: u64,
        /// The last tick the fork shares with RUN (`loom log --run RUN` lists them)
        #[arg(long = "at", value_name = "SEQ")]
        seq: u64,
        /// New wording for the task, from the fork point on
        #[arg(value_name = "TASK")]
        task: Option<String>,
        /// Every agent role calls this provider after the fork point
        #[arg(long, value_name = "SPEC")]
        provider: Option<String>,
        /// Run the fork with this bundle (a new version); refused unless it reproduces the
        /// run's ticks up to SEQ
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// Take the bundle settings from the project's config at the fork point
        #[arg(long)]
        settings: bool,
        /// Abandon the open task to make room for the fork
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        at: At,
    },
    /// Drop the open task (with another process driving it, at its next tick boundary)
    Abandon {
        /// Why the task is dropped (kept in the record)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Who abandons (default: $USER)
        #[arg(long = "as", value_name = "NAME")]
        who: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// The tick timeline of a run: tokens, steps, deciders, ledger keys
    Log {
        #[command(flatten)]
        json: Json,
        /// Which run (default: the current one; `loom runs` lists them)
        #[arg(long, value_name = "N")]
        run: Option<u64>,
        /// Only the last N ticks
        #[arg(short = 'n', long = "last", value_name = "N", conflicts_with = "since")]
        last: Option<u64>,
        /// Only the ticks after this seq (a page: reads only those ticks)
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
        /// At most this many ticks (a page; with --since, the next page starts at the last
        /// seq printed)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Keep printing ticks as they commit, whichever process commits them, until Ctrl-C
        #[arg(long, short = 'f', conflicts_with = "json")]
        follow: bool,
        #[command(flatten)]
        at: At,
    },
    /// Check that no tick was edited, deleted or reordered (the hash chain)
    Verify {
        /// Which run (default: every run)
        #[arg(value_name = "RUN")]
        run: Option<u64>,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        at: At,
    },
    /// Re-run recorded runs from the record (no provider, command or patch runs), check every
    /// tick reproduces, and evaluate other rules at each commit: "would this rule have caught it?"
    Replay(replay_cmd::ReplayArgs),
    /// Run the `code` bundle on a throwaway repository with a real bug, offline
    Demo {
        /// Where to create the demo repository: a new or empty directory (default: a new
        /// temporary directory)
        #[arg(value_name = "DIR")]
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
    Mcp {
        #[command(flatten)]
        at: At,
    },
    /// Work with bundle components
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Serve this project over HTTP (a JSON API and events) until stopped; the CLI sends its
    /// driving commands there meanwhile
    Serve(serve_cmd::ServeArgs),
    /// Print a shell completion script (e.g. `loom completions bash > ~/.local/share/bash-completion/completions/loom`)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print loom's manual page (roff), e.g. `loom man | man -l -`
    Man,
}

#[derive(clap::Args)]
pub struct DecideArgs {
    /// Who decides (default: $USER)
    #[arg(long = "as", value_name = "NAME")]
    pub who: Option<String>,
    /// The shown hash (or its first 8+ hex digits) of the gate text you read, as `loom gates`
    /// prints it: refused if the gate now shows something else
    #[arg(long, value_name = "HASH")]
    pub shown: Option<String>,
    /// Decide a gate an agent was to decide (recorded as a human decision)
    #[arg(long)]
    pub take_over: bool,
    /// If another loom process drives this project, wait for it instead of failing
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub at: At,
}

#[derive(Subcommand)]
pub enum ProvidersCommand {
    /// Build every provider the config names and probe it without a billed call
    Check {
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        at: At,
    },
}

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Write a new bundle that builds and passes its own tests as it is, outside any loom
    /// checkout (the SDK is vendored into it); its README says how to build, check and run it
    New {
        /// The bundle's name: lowercase letters, digits and `-` (e.g. `incident-runbook`)
        name: String,
        /// The language to write it in
        #[arg(long, value_enum)]
        lang: crate::scaffold::Lang,
        /// Where to write it (default: ./NAME); it must be new or empty
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Load a component (a bundle or an invariants component), report what it targets,
    /// imports and declares, and lint its manifest
    Check {
        /// The component to check
        #[arg(value_name = "FILE.wasm")]
        file: PathBuf,
        #[command(flatten)]
        json: Json,
        #[command(flatten)]
        at: At,
    },
}

impl Command {
    /// The `-C` this command was given, or `None` for one that takes none.
    pub fn at(&self) -> Option<&At> {
        match self {
            Command::Init { at }
            | Command::Run { at, .. }
            | Command::Status { at, .. }
            | Command::Runs { at, .. }
            | Command::Gates { at, .. }
            | Command::Resume { at, .. }
            | Command::Abandon { at, .. }
            | Command::Fork { at, .. }
            | Command::Log { at, .. }
            | Command::Verify { at, .. }
            | Command::Mcp { at }
            | Command::Providers {
                command: ProvidersCommand::Check { at, .. },
            }
            | Command::Bundle {
                command: BundleCommand::Check { at, .. },
            } => Some(at),
            Command::Approve { decide, .. } | Command::Reject { decide, .. } => Some(&decide.at),
            Command::Replay(r) => Some(&r.at),
            Command::Serve(s) => Some(&s.at),
            Command::Demo { .. }
            | Command::Completions { .. }
            | Command::Man
            | Command::Bundle {
                command: BundleCommand::New { .. },
            } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every command says what it is for in `--help`.
    #[test]
    fn every_argument_and_command_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "loom", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_ends_with_the_exit_codes() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        for (code, _) in crate::exit::TABLE {
            assert!(help.contains(&format!("\n  {code:>2}  ")), "{code}: {help}");
        }
    }

    #[test]
    fn project_is_offered_only_where_it_is_honoured() {
        let cmd = Cli::command();
        let demo = cmd
            .find_subcommand("demo")
            .map(|d| d.get_arguments().any(|a| a.get_id().as_str() == "project"));
        assert_eq!(demo, Some(false));
        let status = cmd
            .find_subcommand("status")
            .map(|d| d.get_arguments().any(|a| a.get_id().as_str() == "project"));
        assert_eq!(status, Some(true));
    }
}
