//! Re-executing a recorded run with its bundle (or another): the engine runs on a scratch
//! database with the recording standing in for the clock, the providers and the people, and
//! the chain it produces is compared with the recorded one.

use crate::error::Result;
use crate::recording::Recording;
use crate::replay::{Divergence, ReplayOptions};
use crate::Engine;
use loom_kernel::{
    first_difference, NewRun, RunStatus, Store, TickKind, TickMeta, TickRow, TickToken, Write,
};
use loom_runtime::{Bundle, Runtime};
use std::sync::Arc;

/// Re-executes run `id` with `bundle` (loaded by `runtime`) and returns the first tick that
/// differs from the recording. The engine works in `scratch`, an in-memory store left from an
/// earlier re-execution (or a new one when there is none), and leaves it there for the next.
pub(crate) fn reexecute(
    store: &Store,
    id: u64,
    runtime: &Runtime,
    bundle: Arc<Bundle>,
    opts: &ReplayOptions,
    scratch: &mut Option<Store>,
) -> Result<Option<Divergence>> {
    let mut recording = Recording::load(store, id)?;
    recording.keep_identity = opts.bundle.is_some();
    let recorded = recording.ticks.clone();
    let root = opts.root.clone().unwrap_or_else(std::env::temp_dir);
    let config = opts.config.clone().unwrap_or_default();
    let db = crate::replay_workers::scratch_store(scratch)?;
    let mut engine = Engine::replaying(root, runtime.clone(), config, recording, db)?;
    let stopped = drive_recorded(&mut engine, id, bundle)
        .err()
        .map(|e| e.to_string());
    let replayed = engine.store.ticks(id)?;
    *scratch = Some(engine.store);
    Ok(compare(&recorded, &replayed, stopped))
}

/// Drives the replaying engine through the recording: the run itself, then each decision,
/// resume or abandon that came from outside it.
pub(crate) fn drive_recorded(engine: &mut Engine, id: u64, bundle: Arc<Bundle>) -> Result<()> {
    engine.replay_start(bundle)?;
    follow(engine, id)
}

/// Drives run `id` on through the engine's recording, from wherever it stands.
pub(crate) fn follow(engine: &mut Engine, id: u64) -> Result<()> {
    loop {
        let run = engine.store.run(id)?;
        let Some(next) = engine
            .recording
            .as_ref()
            .and_then(|r| r.tick(run.last_seq + 1))
        else {
            return Ok(());
        };
        let (kind, decider, summary) = (next.kind, next.decider.clone(), next.summary.clone());
        let writes = engine
            .recording
            .as_ref()
            .map(|r| r.writes(run.last_seq + 1).to_vec())
            .unwrap_or_default();
        match kind {
            // A human's decision, taken or refused by a rule (a refused one is kept inside
            // its violation tick).
            TickKind::Decision | TickKind::Violation if decider.as_deref() == Some("human") => {
                let Some((gate, approved, by, transport, note, edited)) = decision_of(&writes)
                else {
                    return Ok(());
                };
                engine.set_transport(&transport);
                let origin = crate::Origin::human(by, transport);
                let mut d =
                    crate::Decision::new(&gate.to_string(), approved, note.as_deref(), origin);
                // A replay re-enacts what a person did: a take-over, an edit.
                d.take_over = true;
                d.edited = edited;
                let decided = engine.decide_as(&d);
                if kind == TickKind::Decision {
                    decided?;
                }
            }
            // An agent's decision from outside the run (an MCP caller on a gate the run's own
            // agents left pending): the run was at rest, so driving it would not make it.
            TickKind::Decision | TickKind::Violation
                if decider.as_deref() == Some("agent") && run.status != RunStatus::Running =>
            {
                let Some((gate, approved, by, transport, note, _)) = decision_of(&writes) else {
                    return Ok(());
                };
                engine.set_transport(&transport);
                let origin = crate::Origin::agent(by, transport);
                let d = crate::Decision::new(&gate.to_string(), approved, note.as_deref(), origin);
                let decided = engine.decide_as(&d);
                if kind == TickKind::Decision {
                    decided?;
                }
            }
            // A fork's changes at its fork point, as its tick 1 recorded them.
            TickKind::Fork => {
                let Some(origin) = engine.recording.as_ref().and_then(|r| r.fork_origin()) else {
                    return Ok(());
                };
                engine.fork_tick(id, &origin)?;
            }
            TickKind::Resume => {
                let via = summary
                    .strip_prefix("resumed via ")
                    .and_then(|s| s.split(" after:").next())
                    .unwrap_or("cli");
                engine.set_transport(via);
                engine.resume()?;
            }
            TickKind::Abandon => {
                let (via, reason) = engine
                    .recording
                    .as_ref()
                    .and_then(|r| r.abandon_at(run.last_seq + 1))
                    .unwrap_or_else(|| ("cli".into(), None));
                engine.set_transport(&via);
                engine.abandon(reason.as_deref())?;
            }
            _ if run.status == RunStatus::Running => engine.drive(id)?,
            // The engine stopped where the recording went on: the comparison shows where.
            _ => return Ok(()),
        }
        if engine.store.run(id)?.last_seq == run.last_seq {
            return Ok(());
        }
    }
}

/// (gate, approved, by, transport, note, edited)
type RecordedDecision = (u64, bool, String, String, Option<String>, Option<String>);

/// The gate decision a tick's writes hold, directly or among the changes a rule refused.
fn decision_of(writes: &[Write]) -> Option<RecordedDecision> {
    writes.iter().find_map(|w| match w {
        Write::GateDecide {
            id,
            approved,
            by,
            transport,
            note,
            edited,
            ..
        } => Some((
            *id,
            *approved,
            by.clone(),
            transport.clone(),
            note.clone(),
            edited.clone(),
        )),
        Write::Refused { changes } => decision_of(changes),
        _ => None,
    })
}

fn compare(
    recorded: &[TickRow],
    replayed: &[TickRow],
    stopped: Option<String>,
) -> Option<Divergence> {
    for (i, r) in recorded.iter().enumerate() {
        match replayed.get(i) {
            Some(p) => {
                if let Some((what, a, b)) = first_difference(r, p) {
                    return Some(Divergence {
                        seq: r.seq,
                        step: r.step.clone(),
                        what,
                        recorded: a,
                        replayed: b,
                    });
                }
            }
            None => {
                return Some(Divergence {
                    seq: r.seq,
                    step: r.step.clone(),
                    what: "the whole tick".into(),
                    recorded: format!("{} {}", r.kind.as_str(), r.summary),
                    replayed: format!(
                        "(none: the replay stopped{})",
                        stopped.map(|s| format!(": {s}")).unwrap_or_default()
                    ),
                });
            }
        }
    }
    replayed.get(recorded.len()).map(|extra| Divergence {
        seq: extra.seq,
        step: extra.step.clone(),
        what: "the whole tick".into(),
        recorded: "(none: the recording ends before it)".into(),
        replayed: format!("{} {}", extra.kind.as_str(), extra.summary),
    })
}

impl Engine {
    /// Tick 1 of the recording, re-executed with `bundle`; then the run is driven.
    pub(crate) fn replay_start(&mut self, bundle: Arc<Bundle>) -> Result<()> {
        let rec = self
            .recording
            .as_ref()
            .ok_or_else(|| crate::recording::replay_error("not replaying".into()))?;
        let first = rec
            .tick(1)
            .ok_or_else(|| crate::recording::replay_error("the recording has no tick 1".into()))?;
        let Some(Write::RunStart {
            task,
            title,
            bundle: name,
            version,
            bundle_hash,
            settings,
            ..
        }) = rec.writes(1).first().cloned()
        else {
            return Err(crate::recording::replay_error(
                "tick 1 of the recording is not a start".into(),
            ));
        };
        let token = TickToken {
            run: rec.run,
            seq: 1,
            unix_ms: first.unix_ms,
        };
        let options = rec.first_options().to_owned();
        let keep = rec.keep_identity;
        let m = bundle.manifest();
        let new = NewRun {
            title,
            bundle_name: if keep { name } else { m.name.clone() },
            bundle_version: if keep { version } else { m.version.clone() },
            bundle_hash: if keep {
                bundle_hash
            } else {
                bundle.hash().to_owned()
            },
            phase: m.phases.first().cloned().unwrap_or_else(|| "start".into()),
            settings,
            options,
        };
        let summary = crate::api::start_summary(&new);
        let origin = rec.fork_origin();
        let mut tick = self.store.begin_run_as(&new, Some(token), Some(task))?;
        if let Some(origin) = &origin {
            tick.fork_of(origin);
        }
        self.bundles.push(bundle);
        self.commit(tick, TickMeta::new(TickKind::Start, summary), None)?;
        self.drive(token.run)
    }
}
