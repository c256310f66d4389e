//! Preparing and performing a step's effect. Preparation (rendering the prompt, resolving the
//! command) happens before the intent row is written so the request is stored with it;
//! performing happens with no transaction open.

use crate::config::Config;
use crate::error::{EngineError, Result};
use crate::events::Observer;
use crate::{project, template, workspace};
use loom_kernel::{LedgerStatus, Store};
use loom_providers::{Chain, Message, MessageRole, Progress, Request};
use loom_runtime::{AgentReply, CommandResult, Effect, Manifest, Outcome};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

mod apply_diff;

/// An effect ready to run: what it is, and the request stored with its intent row.
pub(crate) struct Prepared {
    pub kind: &'static str,
    pub retry_safe: bool,
    pub request: serde_json::Value,
    pub what: String,
    job: Job,
}

enum Job {
    /// Rebuilt from a recording (`loom replay`): it is never performed.
    Recorded,
    Agent {
        role: String,
        prompt: String,
        edits_tree: bool,
    },
    Diff(apply_diff::DiffJob),
    Command {
        command: String,
    },
}

/// A performed effect: the outcome handed to the bundle, plus what the ledger keeps about it.
pub(crate) struct Performed {
    pub outcome: Outcome,
    pub summary: String,
    pub meta: serde_json::Value,
    /// Content to store as blobs in the result's tick (e.g. an applied diff).
    pub blobs: Vec<Vec<u8>>,
}

/// A failed effect: nothing changed state; the run stops with `message`.
pub(crate) struct Failed {
    pub message: String,
    pub meta: serde_json::Value,
}

impl Prepared {
    /// An effect as a recording describes it, for a replay where it cannot be prepared again
    /// (a command this machine's config does not name, say).
    pub(crate) fn recorded(kind: &str, retry_safe: bool, request: serde_json::Value) -> Prepared {
        Prepared {
            kind: match kind {
                "agent" => "agent",
                "apply-diff" => "apply-diff",
                _ => "command",
            },
            retry_safe,
            request,
            what: "replayed".into(),
            job: Job::Recorded,
        }
    }
}

pub(crate) fn prepare(
    effect: &Effect,
    manifest: &Manifest,
    store: &Store,
    run: u64,
    unfinished_diffs: &[loom_kernel::LedgerRow],
    config: &Config,
    root: &Path,
) -> Result<Prepared> {
    match effect {
        Effect::Agent(call) => {
            let tpl = manifest
                .templates
                .iter()
                .find(|t| t.id == call.template)
                .ok_or_else(|| {
                    EngineError::Effect(format!(
                        "bundle {} asked for template \"{}\", which its manifest does not declare",
                        manifest.name, call.template
                    ))
                })?;
            let prompt = template::render(tpl, &call.args)
                .map_err(|e| EngineError::Effect(format!("bundle {}: {e}", manifest.name)))?;
            Ok(Prepared {
                kind: "agent",
                // Asking a model again is harmless apart from its cost; editing the tree is not.
                retry_safe: !call.edits_tree,
                request: json!({"role": call.role, "template": call.template, "prompt": prompt,
                                "chain": config.chain_for(&call.role)}),
                what: format!("{} is working", call.role),
                job: Job::Agent {
                    role: call.role.clone(),
                    prompt,
                    edits_tree: call.edits_tree,
                },
            })
        }
        Effect::ApplyDiff(call) => {
            let text = reply_text(store, run, &call.source_key)?;
            let diff = workspace::extract_diff(&text).ok_or_else(|| {
                EngineError::Effect(format!(
                    "the reply recorded under {} holds no unified diff to apply",
                    call.source_key
                ))
            })?;
            let (request, job) =
                apply_diff::prepare(store, run, unfinished_diffs, root, &call.source_key, diff)?;
            Ok(Prepared {
                kind: "apply-diff",
                // With the pre-image in its request, the apply tells applied, not applied and
                // half applied apart and puts a half-applied diff right: redoing it is safe.
                retry_safe: true,
                request,
                what: "applying the diff".into(),
                job: Job::Diff(job),
            })
        }
        Effect::Command(call) => {
            let Some(command) = config.commands.get(&call.name).cloned() else {
                // Format 4 names both files a config may be in (`loom init` writes the second).
                let file = match crate::api::RunOptions::parse(&store.run(run)?.options, run)? {
                    o if o.format >= 4 => crate::config::FILES,
                    _ => "loom.toml",
                };
                return Err(EngineError::Usage(format!(
                    "the bundle asks for the command \"{0}\", which this project has not \
                     configured; add it to {file}:\n\n[commands]\n{0} = \"…\"",
                    call.name
                )));
            };
            Ok(Prepared {
                kind: "command",
                retry_safe: call.retry_safe,
                request: json!({"name": call.name, "command": command}),
                what: format!("running `{command}`"),
                job: Job::Command { command },
            })
        }
    }
}

/// The text an agent replied under ledger key `key` (its completed attempt).
fn reply_text(store: &Store, run: u64, key: &str) -> Result<String> {
    let row = store
        .attempts(run, key)?
        .into_iter()
        .rev()
        .find(|r| r.status == LedgerStatus::Done)
        .ok_or_else(|| EngineError::Effect(format!("no completed effect under key {key}")))?;
    let blob = store
        .result(run, key, row.attempt)?
        .ok_or_else(|| EngineError::Effect(format!("effect {key} has no stored result")))?;
    match serde_json::from_slice::<Outcome>(&blob) {
        Ok(Outcome::Agent(reply)) => Ok(reply.text),
        _ => Err(EngineError::Effect(format!(
            "effect {key} was not an agent reply"
        ))),
    }
}

pub(crate) struct Context<'a> {
    pub root: &'a Path,
    pub config: &'a Config,
    pub chain: Option<&'a Chain>,
    pub turn: u32,
    pub effect_key: String,
    pub scratch: std::path::PathBuf,
}

pub(crate) fn perform(
    prepared: &Prepared,
    ctx: &Context<'_>,
    step: &str,
    observer: &mut dyn Observer,
) -> std::result::Result<Performed, Failed> {
    let started = Instant::now();
    match &prepared.job {
        Job::Recorded => Err(Failed {
            message: "a replayed effect is never performed".into(),
            meta: json!({}),
        }),
        Job::Agent {
            role,
            prompt,
            edits_tree,
        } => {
            let chain = ctx.chain.ok_or_else(|| Failed {
                message: format!(
                    "no provider is configured for the agent role \"{role}\"; set \
                     default_chain (or [agents.{role}] chain) in loom.toml, or pass --provider"
                ),
                meta: json!({"role": role}),
            })?;
            let agent = ctx.config.agents.get(role);
            let req = Request {
                role: role.clone(),
                turn: ctx.turn,
                effect_key: ctx.effect_key.clone(),
                model: agent.and_then(|a| a.model.clone()),
                system: None,
                messages: vec![Message {
                    role: MessageRole::User,
                    content: prompt.clone(),
                }],
                max_tokens: agent.and_then(|a| a.max_tokens).unwrap_or(8192),
                workdir: ctx.root.to_path_buf(),
                edits_tree: *edits_tree,
                timeout: Duration::from_secs(ctx.config.agent_timeout_s),
            };
            let mut on_progress = |p: Progress| match p {
                Progress::Started { provider, model } => {
                    observer.progress(step, &format!("asking {provider} ({model})"))
                }
                Progress::Tokens { output_tokens } => {
                    observer.progress(step, &format!("{output_tokens} tokens so far"))
                }
                Progress::Note(n) => observer.progress(step, &n),
            };
            let (result, attempts) = chain.complete(&req, &mut on_progress);
            let latency_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(resp) => {
                    let (touched, diff_hash, blobs) = if *edits_tree {
                        let (diff, touched) =
                            workspace::tree_diff(ctx.root).map_err(|m| Failed {
                                message: m,
                                meta: json!({"role": role}),
                            })?;
                        let hash = (!diff.is_empty())
                            .then(|| loom_kernel::hash::sha256_hex(diff.as_bytes()));
                        (touched, hash, vec![diff.into_bytes()])
                    } else {
                        (Vec::new(), None, Vec::new())
                    };
                    let summary = format!(
                        "{role} replied via {}:{} ({} tokens in, {} out)",
                        resp.provider,
                        resp.model,
                        resp.usage.input_tokens,
                        resp.usage.output_tokens
                    );
                    let cost_usd = ctx.config.cost_usd(
                        resp.cost_usd,
                        &resp.model,
                        resp.usage.input_tokens,
                        resp.usage.output_tokens,
                    );
                    let cost_source = match (resp.cost_usd, cost_usd) {
                        (Some(_), _) => "provider",
                        (None, Some(_)) => "price table",
                        (None, None) => "unknown",
                    };
                    Ok(Performed {
                        meta: json!({"role": role, "provider": resp.provider, "model": resp.model,
                            "input_tokens": resp.usage.input_tokens, "output_tokens": resp.usage.output_tokens,
                            "cost_usd": cost_usd, "cost_source": cost_source,
                            "latency_ms": latency_ms, "attempts": attempts}),
                        outcome: Outcome::Agent(AgentReply {
                            text: resp.text,
                            touched,
                            diff_hash,
                        }),
                        summary,
                        blobs,
                    })
                }
                Err(e) => Err(Failed {
                    message: chain_failure(role, &e, &attempts),
                    meta: json!({"role": role, "latency_ms": latency_ms, "attempts": attempts}),
                }),
            }
        }
        Job::Diff(job) => apply_diff::perform(job, ctx, started),
        Job::Command { command } => {
            let timeout = Duration::from_secs(ctx.config.command_timeout_s);
            match workspace::run_command(ctx.root, command, timeout) {
                Ok(run) => Ok(Performed {
                    summary: format!(
                        "`{command}` exited {}{}",
                        run.exit_code,
                        if run.timed_out { " (timed out)" } else { "" }
                    ),
                    meta: json!({"command": command, "exit_code": run.exit_code,
                                 "latency_ms": started.elapsed().as_millis() as u64}),
                    outcome: Outcome::Command(CommandResult {
                        exit_code: run.exit_code,
                        output_tail: run.output_tail,
                    }),
                    blobs: Vec::new(),
                }),
                Err(message) => Err(Failed {
                    message,
                    meta: json!({"command": command}),
                }),
            }
        }
    }
}

/// Scratch space for this project.
pub(crate) fn scratch(root: &Path) -> Result<std::path::PathBuf> {
    project::scratch_dir(root)
}

/// A question loom itself asks an agent (a gate decision), outside any bundle template.
pub(crate) fn prepare_question(role: &str, prompt: String, config: &Config) -> Prepared {
    Prepared {
        kind: "agent",
        retry_safe: true,
        request: json!({"role": role, "template": null, "prompt": prompt, "chain": config.chain_for(role)}),
        what: format!("{role} is deciding a gate"),
        job: Job::Agent {
            role: role.to_owned(),
            prompt,
            edits_tree: false,
        },
    }
}

/// Why no provider of a chain answered: the error when one provider was tried, else each
/// provider's last error, in the order they were tried.
fn chain_failure(
    role: &str,
    last: &loom_providers::ProviderError,
    attempts: &[loom_providers::Attempt],
) -> String {
    let mut providers: Vec<(&str, &str, usize)> = Vec::new();
    for a in attempts {
        match providers.iter_mut().find(|(p, _, _)| *p == a.provider) {
            Some(entry) => {
                entry.1 = &a.message;
                entry.2 += 1;
            }
            None => providers.push((&a.provider, &a.message, 1)),
        }
    }
    if providers.len() < 2 {
        return format!("{role}: {last}");
    }
    let each: Vec<String> = providers
        .iter()
        .map(|(_, message, tries)| match tries {
            1 => (*message).to_owned(),
            n => format!("{message} ({n} tries)"),
        })
        .collect();
    format!(
        "{role}: none of the {} providers answered: {}",
        providers.len(),
        each.join("; ")
    )
}
