//! Re-deriving a recorded run, tick by tick, in a scratch database.
//!
//! Each recorded tick is opened under its recorded token, its recorded change list is applied
//! again through the same tick methods that wrote it (with the recorded ledger results, gate
//! texts and decisions as inputs), rules can be evaluated at its commit point, and the tick is
//! committed with its recorded description. The recomputed hash must equal the recorded one.
//! Nothing is written to the source database, which may be open read-only.

use crate::error::{KernelError, Result};
use crate::model::*;
use crate::store::{NewRun, Store};
use crate::tick::{Rules, Tick, TickMeta};
use serde_json::Value;
use std::collections::BTreeMap;

/// One recorded tick, replayed.
pub struct Replayed {
    pub recorded: TickRow,
    pub replayed: TickRow,
    /// For each rule set passed to [`Replay::step`], its verdict at this tick's commit point.
    pub verdicts: Vec<std::result::Result<Vec<Violation>, String>>,
}

/// A recorded run being replayed.
pub struct Replay<'s> {
    source: &'s Store,
    scratch: Store,
    run: Run,
    ticks: Vec<TickRow>,
    /// The run's ledger, ordered by seq (as `Store::ledger` returns it).
    ledger: Vec<LedgerRow>,
    /// Index into `ledger` by (key, attempt): a replay looks rows up on every tick.
    by_key: BTreeMap<(String, u32), usize>,
    /// The run's gates by id: looked up at every gate a replay opens.
    gates: BTreeMap<u64, Gate>,
    next: usize,
}

impl<'s> Replay<'s> {
    pub fn new(source: &'s Store, run: u64) -> Result<Replay<'s>> {
        Self::with_scratch(source, run, Store::open_in_memory()?)
    }

    /// As [`Replay::new`], re-deriving into `scratch` (an in-memory store from an earlier
    /// replay, see [`Replay::into_scratch`]), which is emptied first: its schema and prepared
    /// statements are kept, so replaying many runs does not build a database for each.
    pub fn with_scratch(source: &'s Store, run: u64, scratch: Store) -> Result<Replay<'s>> {
        scratch.clear_scratch()?;
        let ledger = source.ledger(run)?;
        let by_key = ledger
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.key.clone(), l.attempt), i))
            .collect();
        Ok(Replay {
            run: source.run(run)?,
            ticks: source.ticks(run)?,
            ledger,
            by_key,
            gates: source.gates(run)?.into_iter().map(|g| (g.id, g)).collect(),
            scratch,
            source,
            next: 0,
        })
    }

    pub fn run(&self) -> &Run {
        &self.run
    }

    /// How many ticks the recording has.
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// The replayed run's state so far (for reading what a rule saw).
    pub fn scratch(&self) -> &Store {
        &self.scratch
    }

    /// The scratch store, for the next replay to reuse.
    pub fn into_scratch(self) -> Store {
        self.scratch
    }

    /// Replays the next recorded tick, evaluating each of `rules` at its commit point.
    /// `None` when every tick has been replayed.
    pub fn step(&mut self, rules: &[&dyn Rules]) -> Result<Option<Replayed>> {
        let Some(recorded) = self.ticks.get(self.next).cloned() else {
            return Ok(None);
        };
        self.next += 1;
        let at = |e: KernelError| {
            KernelError::Corrupt(format!(
                "tick {} of run #{} cannot be applied again: {e}",
                recorded.seq, recorded.run_id
            ))
        };
        let writes: Vec<Write> = serde_json::from_str(&recorded.changes)
            .map_err(|e| at(KernelError::Corrupt(format!("change list: {e}"))))?;
        let token = TickToken {
            run: recorded.run_id,
            seq: recorded.seq,
            unix_ms: recorded.unix_ms,
        };
        self.copy_intents(recorded.seq, &writes).map_err(at)?;
        let mut tick = match writes.first() {
            Some(Write::RunStart {
                task,
                title,
                bundle,
                version,
                bundle_hash,
                phase,
                settings,
            }) => {
                let new = NewRun {
                    title: title.clone(),
                    bundle_name: bundle.clone(),
                    bundle_version: version.clone(),
                    bundle_hash: bundle_hash.clone(),
                    phase: phase.clone(),
                    settings: settings.clone(),
                    options: self.run.options.clone(),
                };
                self.scratch
                    .begin_run_as(&new, Some(token), Some(*task))
                    .map_err(at)?
            }
            _ => self.scratch.begin(token).map_err(at)?,
        };
        for w in &writes {
            self.apply(&mut tick, &recorded, w).map_err(at)?;
        }
        let view = tick.view();
        let verdicts = rules.iter().map(|r| r.check(&token, &view)).collect();
        let meta = TickMeta {
            kind: recorded.kind,
            step: recorded.step.clone(),
            decider: recorded.decider.clone(),
            summary: recorded.summary.clone(),
            on_violation: RunStatus::Stopped,
        };
        let replayed = tick.commit(meta, None).map_err(at)?;
        Ok(Some(Replayed {
            recorded,
            replayed,
            verdicts,
        }))
    }

    /// Intents are committed before their tick, outside the chain: put the ones recorded for
    /// tick `seq` in place, as they were when the tick began.
    fn copy_intents(&self, seq: u64, writes: &[Write]) -> Result<()> {
        // Rows the tick itself writes (calls inside an effect) are not intents.
        let written = |key: &str| {
            writes
                .iter()
                .any(|w| matches!(w, Write::Call { key: k, .. } if k == key))
        };
        let from = self.ledger.partition_point(|l| l.seq < seq);
        let to = self.ledger.partition_point(|l| l.seq <= seq);
        for l in self.ledger[from..to].iter().filter(|l| !written(&l.key)) {
            if let Some(h) = &l.request_hash {
                if let Some(request) = self.source.blob(h)? {
                    self.scratch.put_blob(&request)?;
                }
            }
            self.scratch.restore_intent(l)?;
            if l.status == LedgerStatus::Failed {
                // Failed outright before the tick (its fault tick follows): as recorded.
                let at = TickToken {
                    run: l.run_id,
                    seq: l.seq,
                    unix_ms: l.result_ms.unwrap_or(l.intent_ms),
                };
                self.scratch
                    .record_failed_attempt(&at, &l.key, l.attempt, &l.summary, &l.meta)?;
            }
        }
        Ok(())
    }

    fn row(&self, key: &str, attempt: u32) -> Option<&LedgerRow> {
        self.by_key
            .get(&(key.to_owned(), attempt))
            .map(|i| &self.ledger[*i])
    }

    fn apply(&self, tick: &mut Tick<'_>, at: &TickRow, w: &Write) -> Result<()> {
        match w {
            // Written by `begin_run_as`.
            Write::RunStart { .. } => Ok(()),
            Write::Phase { to, .. } => tick.set_phase(to),
            Write::PutFact { kind, key, value } => tick.put_fact(kind, key, value),
            Write::DropFact { kind, key } => tick.drop_fact(kind, key),
            Write::Note { text } => {
                tick.note(text);
                Ok(())
            }
            Write::Result {
                key,
                attempt,
                status,
                summary,
                ..
            } => {
                let row = self.row(key, *attempt).ok_or_else(|| {
                    KernelError::Corrupt(format!("no ledger row {key} attempt {attempt}"))
                })?;
                for older in 1..*attempt {
                    if self
                        .row(key, older)
                        .is_some_and(|l| l.status == LedgerStatus::Superseded)
                    {
                        tick.supersede(key, older)?;
                    }
                }
                let data = self.source.result(at.run_id, key, *attempt)?;
                tick.write_result(key, *attempt, *status, data.as_deref(), summary, &row.meta)?;
                Ok(())
            }
            Write::GateOpen {
                id,
                name,
                decider,
                risk,
                ..
            } => {
                let gate = self.gate(*id)?;
                let opened = tick.open_gate(name, *decider, *risk, &gate.summary)?;
                if opened != *id {
                    return Err(KernelError::Corrupt(format!(
                        "gate {name} was recorded as #{id} but opens as #{opened}"
                    )));
                }
                Ok(())
            }
            Write::GateDecide {
                id,
                approved,
                decider,
                by,
                transport,
                note,
                edited,
                ..
            } => tick
                .decide_gate_edited(
                    *id,
                    *approved,
                    *decider,
                    by,
                    transport,
                    note.as_deref(),
                    edited.as_deref(),
                )
                .map(|_| ()),
            Write::RunStatus {
                status,
                reason,
                code,
            } => tick.set_status_coded(*status, reason.as_deref(), code.as_deref()),
            Write::Call {
                key,
                step,
                kind,
                status,
                summary,
            } => {
                let meta = self.row(key, 1).map_or("{}", |l| l.meta.as_str());
                tick.record_call(key, step, kind, *status, summary, meta)
            }
            Write::Options { from, options } => tick.write_options(from.clone(), options),
            Write::ForkOf {
                run,
                at,
                hash,
                provider,
                settings,
                title,
            } => {
                tick.fork_of(&crate::fork::ForkOrigin {
                    run: *run,
                    at: *at,
                    hash: hash.clone(),
                    provider: provider.clone(),
                    settings: settings.clone(),
                    title: title.clone(),
                });
                Ok(())
            }
            Write::Settings { from, settings } => tick.write_settings(from.clone(), settings),
            Write::Title { from, title } => tick.write_title(from.clone(), title),
            Write::Refused { changes } => {
                tick.log(Write::Refused {
                    changes: changes.clone(),
                });
                Ok(())
            }
            Write::Violation {
                rule,
                message,
                rows,
            } => tick.write_violation(
                at.step.as_deref(),
                &Violation {
                    rule: rule.clone(),
                    message: message.clone(),
                    rows: rows.clone(),
                },
            ),
        }
    }

    fn gate(&self, id: u64) -> Result<&Gate> {
        self.gates
            .get(&id)
            .ok_or_else(|| KernelError::Corrupt(format!("no gate #{id} in the gates table")))
    }
}

/// Where a replayed tick departs from its recording, for a reader: the first differing entry
/// of the change list, or else the first differing field of the tick row.
pub fn first_difference(
    recorded: &TickRow,
    replayed: &TickRow,
) -> Option<(String, String, String)> {
    if recorded.hash == replayed.hash {
        return None;
    }
    let rec: Vec<Value> = serde_json::from_str(&recorded.changes).unwrap_or_default();
    let rep: Vec<Value> = serde_json::from_str(&replayed.changes).unwrap_or_default();
    for i in 0..rec.len().max(rep.len()) {
        let (a, b) = (rec.get(i), rep.get(i));
        if a == b {
            continue;
        }
        // Two writes of the same kind: name the fields that differ and show only those.
        if let (Some(Value::Object(x)), Some(Value::Object(y))) = (a, b) {
            if x.get("op") == y.get("op") {
                let keys: Vec<&String> = x
                    .keys()
                    .chain(y.keys().filter(|k| !x.contains_key(*k)))
                    .filter(|k| x.get(*k) != y.get(*k))
                    .collect();
                let pick = |o: &serde_json::Map<String, Value>| {
                    let m: serde_json::Map<String, Value> = keys
                        .iter()
                        .map(|k| ((*k).clone(), o.get(*k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    Value::Object(m).to_string()
                };
                let op = x.get("op").and_then(Value::as_str).unwrap_or("write");
                let names: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
                return Some((
                    format!("change {} ({op}), field {}", i + 1, names.join(", ")),
                    pick(x),
                    pick(y),
                ));
            }
        }
        let show = |v: Option<&Value>| v.map_or("(nothing)".to_owned(), Value::to_string);
        return Some((format!("change {}", i + 1), show(a), show(b)));
    }
    let fields: [(&str, String, String); 6] = [
        (
            "prev_hash",
            recorded.prev_hash.clone(),
            replayed.prev_hash.clone(),
        ),
        (
            "kind",
            recorded.kind.as_str().into(),
            replayed.kind.as_str().into(),
        ),
        (
            "step",
            format!("{:?}", recorded.step),
            format!("{:?}", replayed.step),
        ),
        (
            "decider",
            format!("{:?}", recorded.decider),
            format!("{:?}", replayed.decider),
        ),
        (
            "summary",
            recorded.summary.clone(),
            replayed.summary.clone(),
        ),
        (
            "changes",
            recorded.changes.clone(),
            replayed.changes.clone(),
        ),
    ];
    for (name, a, b) in fields {
        if a != b {
            return Some((name.to_owned(), a, b));
        }
    }
    Some((
        "hash".to_owned(),
        recorded.hash.clone(),
        replayed.hash.clone(),
    ))
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
