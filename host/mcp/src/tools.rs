//! The tools. Each returns a short text for the model and a structured result matching its
//! `outputSchema`; a command loom refuses comes back as `isError: true` with loom's message,
//! and arguments that do not fit the schema or its bounds as a JSON-RPC error.

use crate::args::*;
use crate::wait::{self, Progress};
use crate::{blocking, elicit, paths, render, tool_error, tool_ok, LoomMcp};
use loom_engine::{Decision, ErrorKind, Origin};
use loom_kernel::Decider;
use loom_service::ServiceError;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{tool, tool_router, ErrorData};

type ToolResult = Result<CallToolResult, ErrorData>;

/// How long `abandon` waits for the engine to record it before answering that it is asked.
const ABANDON_ANSWER: std::time::Duration = std::time::Duration::from_secs(5);

/// Who is asking: an agent, named by its MCP client (`claude-code`, …).
fn origin(ctx: &RequestContext<RoleServer>) -> Origin {
    let who = ctx
        .client_info()
        .map(|i| i.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "mcp-client".into());
    Origin::agent(who, "mcp")
}

fn progress(ctx: &RequestContext<RoleServer>) -> Progress {
    Progress {
        to: ctx.meta.get_progress_token().map(|t| (ctx.peer.clone(), t)),
    }
}

fn bounded_text(what: &str, s: &str, max: usize) -> Result<(), ErrorData> {
    if s.len() > max {
        return Err(ErrorData::invalid_params(
            format!("{what} is over {max} bytes"),
            None,
        ));
    }
    Ok(())
}

fn forbidden(message: String) -> ServiceError {
    ServiceError {
        kind: ErrorKind::Forbidden,
        message,
    }
}

#[tool_router(vis = "pub(crate)")]
impl LoomMcp {
    #[tool(
        description = "The open task, its run and where it is, who drives the project, pending \
                       gates (with who may decide each), effects in flight, violations.",
        output_schema = schema_for_output::<StatusOut>()
    )]
    async fn status(&self) -> ToolResult {
        let reader = self.reader();
        Ok(match blocking(move || reader.status()).await {
            Ok(s) => {
                let (text, out) = render::status(&s);
                tool_ok(text, &out)
            }
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Start a task: opens it and returns at once with the run id while loom \
                       drives it in the background (a step can take minutes). Pass wait (s) \
                       to follow it to its next rest (a gate, a stop, the end) with progress.",
        output_schema = schema_for_output::<RunOut>()
    )]
    async fn start_task(
        &self,
        Parameters(a): Parameters<StartTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if a.title.trim().is_empty() {
            return Err(ErrorData::invalid_params("title is empty", None));
        }
        bounded_text("title", &a.title, TITLE_MAX_BYTES)?;
        if let Some(p) = &a.provider {
            bounded_text("provider", p, TITLE_MAX_BYTES)?;
        }
        let bundle = match &a.bundle_path {
            Some(p) => match paths::read_component(self.root(), p, "bundle") {
                Ok(b) => b,
                Err(e) => return Ok(tool_error(&e)),
            },
            None => self.inner.default_bundle.as_ref().clone(),
        };
        let origin = origin(&ctx);
        let r = async {
            let engine = self.engine().await?;
            let events = engine.subscribe();
            let run = engine.start(&a.title, bundle, a.provider, origin).await?;
            let wait = wait::bounded(a.wait);
            wait::follow(&self.reader(), run, events, wait, &progress(&ctx), &ctx.ct).await
        }
        .await;
        Ok(match r {
            Ok(out) => tool_ok(
                format!("started run #{}\n{}", out.run, render::run_line(&out)),
                &out,
            ),
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Gates of the current run waiting for a decision (all: decided ones too), \
                       each with its decider and the hash of what it shows.",
        output_schema = schema_for_output::<GatesOut>()
    )]
    async fn gates(&self, Parameters(a): Parameters<GatesArgs>) -> ToolResult {
        let reader = self.reader();
        let all = a.all.unwrap_or(false);
        Ok(match blocking(move || reader.gates(all)).await {
            Ok(gates) => {
                let text = if gates.is_empty() {
                    "no gate waits for a decision".into()
                } else {
                    gates
                        .iter()
                        .map(render::gate_line)
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                let out = GatesOut {
                    gates: gates.iter().map(render::gate).collect(),
                };
                tool_ok(text, &out)
            }
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Decide a gate whose decider is `agent` (approve, or reject with a reason \
                       the agents read), bound to the shown_hash you read from gates. A gate \
                       for a human cannot be decided here: a person decides it.",
        output_schema = schema_for_output::<RunOut>()
    )]
    async fn decide_gate(
        &self,
        Parameters(a): Parameters<DecideArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        bounded_text("gate", &a.gate, TITLE_MAX_BYTES)?;
        bounded_text("shown_hash", &a.shown_hash, 128)?;
        if let Some(n) = &a.note {
            bounded_text("note", n, NOTE_MAX_BYTES)?;
        }
        let origin = origin(&ctx);
        let r = async {
            // The engine refuses an agent on a human's gate too; asking first lets the
            // refusal say where a person can decide it, and needs no driver lock.
            let reader = self.reader();
            let gates = blocking(move || reader.gates(false)).await?;
            let gate = gates
                .iter()
                .find(|g| g.name == a.gate || g.id.to_string() == a.gate);
            if let Some(g) = gate.filter(|g| g.decider == Decider::Human) {
                if self.elicits_human_gates() && elicit::supported(&ctx) {
                    let project = self.root().display().to_string();
                    return match elicit::ask(&ctx, g, &project, &origin.who).await {
                        Ok(elicit::Asked::Decided(d)) => {
                            let engine = self.engine().await?;
                            let run = engine.decide(d).await?;
                            wait::snapshot(&self.reader(), run, 0).await
                        }
                        Ok(elicit::Asked::NotDecided(how)) => Err(ServiceError {
                            kind: ErrorKind::Refused,
                            message: format!(
                                "the person at the client {how} the form for gate {}; nothing \
                                 was recorded",
                                g.name
                            ),
                        }),
                        Err(message) => Err(ServiceError {
                            kind: ErrorKind::Refused,
                            message,
                        }),
                    };
                }
            }
            if let Some(g) = gate.filter(|g| g.decider != Decider::Agent) {
                return Err(forbidden(format!(
                    "gate {} is for {} to decide; the agent {} (via mcp) cannot decide it, and \
                     nothing was recorded. A person decides it with `loom approve {}` (or \
                     `loom reject {} --reason …`) in {}",
                    g.name,
                    g.decider.with_article(),
                    origin.who,
                    g.name,
                    g.name,
                    self.root().display()
                )));
            }
            let mut d = Decision::new(&a.gate, a.approved, a.note.as_deref(), origin);
            d.shown_hash = Some(a.shown_hash);
            let engine = self.engine().await?;
            let run = engine.decide(d).await?;
            wait::snapshot(&self.reader(), run, 0).await
        }
        .await;
        Ok(match r {
            Ok(out) => tool_ok(
                format!("decision recorded\n{}", render::run_line(&out)),
                &out,
            ),
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "The tick timeline of a run (default: the current one), paged: each \
                       tick's kind, step, decider, summary, hash and ledger rows.",
        output_schema = schema_for_output::<LogOut>()
    )]
    async fn log(&self, Parameters(a): Parameters<LogArgs>) -> ToolResult {
        let limit = a.limit.unwrap_or(LOG_LIMIT_DEFAULT);
        if limit == 0 || limit > LOG_LIMIT_MAX {
            return Err(ErrorData::invalid_params(
                format!("limit must be 1 to {LOG_LIMIT_MAX}"),
                None,
            ));
        }
        let reader = self.reader();
        let since = a.since_seq.unwrap_or(0);
        Ok(match blocking(move || reader.log(a.run)).await {
            Ok(entries) => {
                let run = entries
                    .first()
                    .map_or(a.run.unwrap_or(0), |e| e.tick.run_id);
                let after: Vec<_> = entries.iter().filter(|e| e.tick.seq > since).collect();
                let ticks: Vec<TickBrief> =
                    after.iter().take(limit).map(|e| render::tick(e)).collect();
                let next_since_seq = (after.len() > limit)
                    .then(|| ticks.last().map(|t| t.seq))
                    .flatten();
                let mut lines: Vec<String> = ticks.iter().map(render::tick_line).collect();
                if let Some(n) = next_since_seq {
                    lines.push(format!("… more: since_seq {n}"));
                }
                let out = LogOut {
                    run,
                    ticks,
                    next_since_seq,
                };
                tool_ok(lines.join("\n"), &out)
            }
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "One ledger row (an effect: an agent call, a diff applied, a command run) \
                       with what it asked (the prompt), what came back (the reply, the \
                       command's output) and the diff an agent made.",
        output_schema = schema_for_output::<LedgerOut>()
    )]
    async fn ledger_row(&self, Parameters(a): Parameters<LedgerArgs>) -> ToolResult {
        bounded_text("key", &a.key, TITLE_MAX_BYTES)?;
        let reader = self.reader();
        Ok(
            match blocking(move || crate::resources::ledger_row(&reader, a.run, &a.key, a.attempt))
                .await
            {
                Ok(out) => {
                    let text = format!(
                        "{} attempt {}: {}",
                        out.row["key"].as_str().unwrap_or("?"),
                        out.row["attempt"],
                        out.row["summary"].as_str().unwrap_or("")
                    );
                    tool_ok(text, &out)
                }
                Err(e) => tool_error(&e),
            },
        )
    }

    #[tool(
        description = "Set a stopped run going again (after a crash or a stop; recorded), then \
                       loom drives it in the background. Pass wait (s) to follow it.",
        output_schema = schema_for_output::<RunOut>()
    )]
    async fn resume(
        &self,
        Parameters(a): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let r = async {
            let engine = self.engine().await?;
            let events = engine.subscribe();
            let run = engine.resume().await?;
            let wait = wait::bounded(a.wait);
            wait::follow(&self.reader(), run, events, wait, &progress(&ctx), &ctx.ct).await
        }
        .await;
        Ok(match r {
            Ok(out) => tool_ok(render::run_line(&out), &out),
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Fork a recorded run after tick `at` (time travel): a new run whose ticks \
                       up to there re-execute the run's from its record, then go on live (with \
                       another provider, wording, or a gate decided differently). Gates the \
                       policy gives to a human still need a human.",
        output_schema = schema_for_output::<RunOut>()
    )]
    async fn fork_run(
        &self,
        Parameters(a): Parameters<ForkArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if let Some(t) = &a.task {
            bounded_text("task", t, NOTE_MAX_BYTES)?;
        }
        let r = async {
            let engine = self.engine().await?;
            let events = engine.subscribe();
            let request = loom_engine::ForkRequest {
                run: a.run,
                at: a.at,
                title: a.task,
                provider: a.provider,
                replace: a.replace,
                ..Default::default()
            };
            let run = engine.fork(request).await?;
            let wait = wait::bounded(a.wait);
            wait::follow(&self.reader(), run, events, wait, &progress(&ctx), &ctx.ct).await
        }
        .await;
        Ok(match r {
            Ok(out) => tool_ok(render::run_line(&out), &out),
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Drop the open task (recorded, with the reason). An effect in flight \
                       finishes first and its result is kept in the ledger.",
        output_schema = schema_for_output::<DoneOut>()
    )]
    async fn abandon(
        &self,
        Parameters(a): Parameters<AbandonArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if let Some(r) = &a.reason {
            bounded_text("reason", r, NOTE_MAX_BYTES)?;
        }
        let origin = origin(&ctx);
        let r = async {
            let engine = self.engine().await?;
            // An effect in flight finishes first (its result is kept); the request is left
            // where the drive loop looks at each tick boundary, so the tool need not wait.
            let asked = engine.abandon(a.reason, origin);
            match tokio::time::timeout(ABANDON_ANSWER, asked).await {
                Ok(report) => report.map(|r| DoneOut {
                    run: r.run.id,
                    task: r.task.id,
                    status: r.run.status.to_string(),
                }),
                Err(_) => {
                    let reader = self.reader();
                    let s = blocking(move || reader.status()).await?;
                    Ok(DoneOut {
                        run: s.run.map_or(0, |r| r.id),
                        task: s.task.map_or(0, |t| t.id),
                        status: "abandon-requested".into(),
                    })
                }
            }
        }
        .await;
        Ok(match r {
            Ok(out) => tool_ok(render::abandoned(&out), &out),
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Walk the hash chain of one run (default: every run) and name the first \
                       edited, deleted or reordered tick.",
        output_schema = schema_for_output::<VerifyOut>()
    )]
    async fn verify(&self, Parameters(a): Parameters<VerifyArgs>) -> ToolResult {
        let reader = self.reader();
        Ok(match blocking(move || reader.verify(a.run)).await {
            Ok(reports) => {
                let runs: Vec<ChainOut> = reports
                    .iter()
                    .map(|r| ChainOut {
                        run: r.run,
                        ticks: r.ticks,
                        intact: r.broken.is_none(),
                        broken: r
                            .broken
                            .as_ref()
                            .map(|b| format!("tick {}: {}", b.seq, b.problem)),
                    })
                    .collect();
                let text = render::verify(&runs);
                let out = VerifyOut {
                    all_intact: runs.iter().all(|r| r.intact),
                    runs,
                };
                tool_ok(text, &out)
            }
            Err(e) => tool_error(&e),
        })
    }

    #[tool(
        description = "Re-execute recorded runs from the record (no provider, command or patch \
                       runs) and check every tick reproduces; with invariants_path, evaluate \
                       that rule component at every commit: would it have caught them?",
        output_schema = schema_for_output::<ReplayOut>()
    )]
    async fn replay(&self, Parameters(a): Parameters<ReplayArgs>) -> ToolResult {
        let root = self.root().to_path_buf();
        Ok(
            match blocking(move || crate::resources::replay(&root, a.run, a.invariants_path)).await
            {
                Ok(out) => {
                    let text = render::replay(&out);
                    tool_ok(text, &out)
                }
                Err(e) => tool_error(&e),
            },
        )
    }
}
