//! Re-executing a recorded run. The recording stands in for everything outside the bundle:
//! its tick tokens for the clock, its ledger results for providers, commands and patches, its
//! gate deciders for the policy, and its human decisions for the people. The bundle's logic
//! and rules run again for real, so a changed bundle shows where it departs.

use crate::effects::Performed;
use crate::error::{EngineError, Result};
use crate::{Config, Engine, Silent};
use loom_kernel::{Decider, LedgerRow, LedgerStatus, Store, TickKind, TickRow, TickToken, Write};
use loom_runtime::Runtime;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

pub(crate) struct Recording {
    pub run: u64,
    pub ticks: Vec<TickRow>,
    /// Each tick's change list, parsed once (empty for one that does not parse: the replay
    /// then departs there, and the comparison shows it).
    writes: Vec<Vec<Write>>,
    ledger: Vec<LedgerRow>,
    /// Index into `ledger` by (key, attempt), and the rows of each tick: a replay looks rows
    /// up at every tick, which scanning the ledger made quadratic in the run's length.
    by_key: HashMap<(String, u32), usize>,
    by_seq: BTreeMap<u64, Vec<usize>>,
    results: BTreeMap<(String, u32), Vec<u8>>,
    requests: BTreeMap<String, Vec<u8>>,
    options: String,
    /// Keep the recorded bundle identity in tick 1 (replaying with another bundle).
    pub keep_identity: bool,
}

impl Recording {
    pub(crate) fn load(source: &Store, run: u64) -> Result<Recording> {
        Self::load_cut(source, run, None)
    }

    /// Ticks 1..=`at` of run `run` as run `fork` re-executes them: its ledger rows, results
    /// and change lists under `fork`'s id and effect keys (see [`crate::fork_prefix::rekey`]).
    pub(crate) fn prefix(source: &Store, run: u64, at: u64, fork: u64) -> Result<Recording> {
        Self::load_cut(source, run, Some((at, fork)))
    }

    fn load_cut(source: &Store, run: u64, cut: Option<(u64, u64)>) -> Result<Recording> {
        let rekey = |text: &str| match cut {
            Some((_, fork)) => crate::fork_prefix::rekey(text, run, fork),
            None => text.to_owned(),
        };
        let mut ledger = source.ledger(run)?;
        if let Some((at, fork)) = cut {
            ledger.retain(|l| l.seq <= at);
            for l in &mut ledger {
                l.key = rekey(&l.key);
                l.run_id = fork;
            }
        }
        let mut results = BTreeMap::new();
        let mut requests = BTreeMap::new();
        let mut by_key = HashMap::new();
        let mut by_seq: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, l) in ledger.iter().enumerate() {
            // The first row of a (key, attempt) wins, as a scan from the start found it.
            by_key.entry((l.key.clone(), l.attempt)).or_insert(i);
            by_seq.entry(l.seq).or_default().push(i);
            if l.result_hash.is_some() || l.status != LedgerStatus::Intent {
                let recorded_key = match cut {
                    Some((_, fork)) => crate::fork_prefix::rekey(&l.key, fork, run),
                    None => l.key.clone(),
                };
                if let Some(r) = source.result(run, &recorded_key, l.attempt)? {
                    results.insert((l.key.clone(), l.attempt), r);
                }
            }
            if let Some(h) = &l.request_hash {
                if !requests.contains_key(h) {
                    if let Some(r) = source.blob(h)? {
                        requests.insert(h.clone(), r);
                    }
                }
            }
        }
        let mut ticks = source.ticks(run)?;
        if let Some((at, _)) = cut {
            ticks.truncate(usize::try_from(at).unwrap_or(usize::MAX));
        }
        // A change list that does not parse is damage to the record, never an empty tick.
        let writes = ticks
            .iter()
            .map(|t| {
                serde_json::from_str::<Vec<Write>>(&rekey(&t.changes)).map_err(|e| {
                    replay_error(format!(
                        "the recorded changes of tick {} of run #{run} cannot be read ({e}); \
                         `loom verify` names the damage",
                        t.seq
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The run's options as it started: the first recorded change says what they were.
        let first_change = writes.iter().flatten().find_map(|w| match w {
            Write::Options { from, .. } => Some(from.clone()),
            _ => None,
        });
        let options = match first_change {
            Some(o) => o,
            None => source.run(run)?.options,
        };
        Ok(Recording {
            run,
            ticks,
            writes,
            ledger,
            by_key,
            by_seq,
            results,
            requests,
            options,
            keep_identity: false,
        })
    }

    /// The run's options as it started.
    pub(crate) fn first_options(&self) -> &str {
        &self.options
    }

    /// Where the recorded run was forked from, if it is a fork (its tick 1 says).
    pub(crate) fn fork_origin(&self) -> Option<loom_kernel::ForkOrigin> {
        self.tick(1)
            .and_then(|t| loom_kernel::ForkOrigin::of(t).ok().flatten())
    }

    /// Where tick `seq` is in `ticks`: recorded ticks are 1, 2, 3, … in order (the chain
    /// guarantees it).
    fn index(&self, seq: u64) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.ticks.get(i).filter(|t| t.seq == seq).map(|_| i)
    }

    pub(crate) fn tick(&self, seq: u64) -> Option<&TickRow> {
        self.index(seq).map(|i| &self.ticks[i])
    }

    pub(crate) fn writes(&self, seq: u64) -> &[Write] {
        self.index(seq).map_or(&[], |i| self.writes[i].as_slice())
    }

    /// The ledger rows recorded for tick `seq`, in the ledger's order.
    pub(crate) fn rows_at(&self, seq: u64) -> impl Iterator<Item = &LedgerRow> {
        self.by_seq
            .get(&seq)
            .into_iter()
            .flatten()
            .map(|i| &self.ledger[*i])
    }

    /// The decider recorded tick `seq` opened a gate for.
    pub(crate) fn gate_decider(&self, seq: u64) -> Option<Decider> {
        self.writes(seq).iter().find_map(|w| match w {
            Write::GateOpen { decider, .. } => Some(*decider),
            _ => None,
        })
    }

    /// The transport recorded with the decision in tick `seq` (a live run records the one it
    /// was driven through, whoever decided).
    pub(crate) fn decision_transport(&self, seq: u64) -> Option<String> {
        fn find(writes: &[Write]) -> Option<String> {
            writes.iter().find_map(|w| match w {
                Write::GateDecide { transport, .. } => Some(transport.clone()),
                // A decision a rule refused is kept inside its violation tick.
                Write::Refused { changes } => find(changes),
                _ => None,
            })
        }
        find(self.writes(seq))
    }

    /// The run options recorded tick `seq` set, if it changed them.
    pub(crate) fn options_written(&self, seq: u64) -> Option<String> {
        self.writes(seq).iter().find_map(|w| match w {
            Write::Options { options, .. } => Some(options.clone()),
            _ => None,
        })
    }

    /// Whether recorded tick `seq` is an abandon, and with what reason.
    pub(crate) fn abandon_at(&self, seq: u64) -> Option<(String, Option<String>)> {
        let t = self.tick(seq).filter(|t| t.kind == TickKind::Abandon)?;
        let via = t
            .summary
            .strip_prefix("abandoned via ")
            .and_then(|s| s.split(": ").next())
            .unwrap_or("cli")
            .to_owned();
        let reason = self.writes(seq).iter().find_map(|w| match w {
            Write::RunStatus { reason, .. } => reason.clone(),
            _ => None,
        });
        Some((via, reason))
    }

    /// The results recorded tick `seq` kept without applying them (an effect that finished
    /// after its task was abandoned), with their bytes.
    pub(crate) fn unapplied_at(&self, seq: u64) -> Vec<(LedgerRow, Option<Vec<u8>>)> {
        self.writes(seq)
            .iter()
            .filter_map(|w| match w {
                Write::Result {
                    key,
                    attempt,
                    status: LedgerStatus::Refused,
                    ..
                } => self.attempt(key, *attempt).map(|row| {
                    let bytes = self.results.get(&(key.clone(), *attempt)).cloned();
                    (row.clone(), bytes)
                }),
                _ => None,
            })
            .collect()
    }

    fn attempt(&self, key: &str, attempt: u32) -> Option<&LedgerRow> {
        self.by_key
            .get(&(key.to_owned(), attempt))
            .map(|i| &self.ledger[*i])
    }
}

/// What a recording says the next attempt at an effect did.
pub(crate) enum RecordedEffect {
    Done(u32, Performed),
    Failed(u32, LedgerRow),
}

pub(crate) fn replay_error(msg: String) -> EngineError {
    EngineError::Effect(format!("replay: {msg}"))
}

impl Engine {
    /// An engine over `scratch` (an in-memory store, emptied here) that re-executes
    /// `recording`.
    pub(crate) fn replaying(
        root: PathBuf,
        runtime: Runtime,
        config: Config,
        recording: Recording,
        scratch: Store,
    ) -> Result<Engine> {
        scratch.clear_scratch()?;
        Ok(Engine {
            root,
            config,
            store: scratch,
            runtime,
            bundles: Vec::new(),
            observer: std::cell::RefCell::new(Box::new(Silent)),
            transport: "replay".into(),
            pending_fault: std::cell::RefCell::new(None),
            budget: std::cell::RefCell::new(None),
            tally: std::cell::RefCell::new(None),
            recording: Some(recording),
            lock: None,
        })
    }

    pub(crate) fn set_transport(&mut self, transport: &str) {
        self.transport = transport.to_owned();
    }

    /// The token of the next tick of `run`: minted now, or in a replay the recorded one.
    pub(crate) fn token(&self, run: u64) -> Result<TickToken> {
        let Some(rec) = &self.recording else {
            return Ok(self.store.next_token(run)?);
        };
        let seq = self.store.run(run)?.last_seq + 1;
        let tick = rec.tick(seq).ok_or_else(|| {
            replay_error(format!(
                "the run goes on past the recording's last tick ({})",
                seq - 1
            ))
        })?;
        // Attempts that never got a result (the process died during them) were committed
        // before this tick: put them back so the engine finds them as it did.
        for l in rec
            .rows_at(seq)
            .filter(|l| matches!(l.status, LedgerStatus::Intent | LedgerStatus::Superseded))
        {
            self.restore(rec, l)?;
        }
        Ok(TickToken {
            run,
            seq,
            unix_ms: tick.unix_ms,
        })
    }

    fn restore(&self, rec: &Recording, l: &LedgerRow) -> Result<()> {
        if let Some(r) = l.request_hash.as_ref().and_then(|h| rec.requests.get(h)) {
            self.store.put_blob(r)?;
        }
        Ok(self.store.restore_intent(l)?)
    }

    /// In a replay, the recorded next attempt at `key` in place of performing it; `None`
    /// outside a replay.
    pub(crate) fn recorded_effect(
        &self,
        token: &TickToken,
        key: &str,
    ) -> Result<Option<RecordedEffect>> {
        let Some(rec) = &self.recording else {
            return Ok(None);
        };
        let attempt = self
            .store
            .attempts(token.run, key)?
            .last()
            .map_or(1, |a| a.attempt + 1);
        let row = rec.attempt(key, attempt).ok_or_else(|| {
            replay_error(format!(
                "at tick {} the bundle asks for effect {key} attempt {attempt}, which the \
                 recording never performed",
                token.seq
            ))
        })?;
        self.restore(rec, row)?;
        match row.status {
            LedgerStatus::Failed => Ok(Some(RecordedEffect::Failed(attempt, row.clone()))),
            LedgerStatus::Done | LedgerStatus::Refused => {
                let bytes = rec.results.get(&(key.to_owned(), attempt)).ok_or_else(|| {
                    replay_error(format!(
                        "effect {key} attempt {attempt} has no stored result"
                    ))
                })?;
                let outcome = serde_json::from_slice(bytes).map_err(|e| {
                    replay_error(format!("the stored result of {key} is not an outcome: {e}"))
                })?;
                let meta = serde_json::from_str(&row.meta).map_err(|e| {
                    replay_error(format!(
                        "the recorded meta of effect {key} attempt {attempt} is not JSON: {e}"
                    ))
                })?;
                Ok(Some(RecordedEffect::Done(
                    attempt,
                    Performed {
                        outcome,
                        summary: row.summary.clone(),
                        meta,
                        blobs: Vec::new(),
                    },
                )))
            }
            _ => Err(replay_error(format!(
                "the recording ends with effect {key} attempt {attempt} in flight"
            ))),
        }
    }

    /// In a replay, the effect under `key` as recorded, when preparing it here failed.
    pub(crate) fn recorded_prepared(&self, key: &str) -> Option<crate::effects::Prepared> {
        let rec = self.recording.as_ref()?;
        // The key's first recorded attempt (attempts are numbered from 1).
        let row = rec
            .attempt(key, 1)
            .or_else(|| rec.ledger.iter().find(|l| l.key == key))?;
        let request = row
            .request_hash
            .as_ref()
            .and_then(|h| rec.requests.get(h))
            .and_then(|r| serde_json::from_slice(r).ok())
            .unwrap_or_default();
        Some(crate::effects::Prepared::recorded(
            &row.kind,
            row.retry_safe,
            request,
        ))
    }

    /// The recorded request of the latest attempt at `key`, so that what a replay shows (an
    /// uncertain effect's gate text) does not depend on this machine's configuration.
    pub(crate) fn recorded_request(&self, run: u64, key: &str) -> Result<Option<String>> {
        let Some(rec) = &self.recording else {
            return Ok(None);
        };
        let last = self.store.attempts(run, key)?.pop();
        Ok(last
            .and_then(|l| l.request_hash)
            .and_then(|h| rec.requests.get(&h))
            .map(|r| String::from_utf8_lossy(r).into_owned()))
    }
}
