//! One tick = one transaction. Writes accumulate in the open transaction and in a canonical
//! change list; `commit` runs the rules inside the transaction, then chains and commits.

use crate::error::{KernelError, Result};
use crate::fork::ForkOrigin;
use crate::hash::sha256_hex;
use crate::model::*;
use crate::store::Store;
use crate::view::View;
use crate::{query, results, texts};
use rusqlite::params;

/// The commit-time rules of a run (a bundle's invariants, or a swapped-in set on replay).
pub trait Rules {
    /// Returns the rules the state seen through `view` breaks; empty when all hold. `Err` means
    /// the rules could not be evaluated at all (a trap, an exhausted limit): the tick rolls back.
    fn check(&self, token: &TickToken, view: &View) -> std::result::Result<Vec<Violation>, String>;
}

/// How a tick describes itself in the log.
#[derive(Clone, Debug)]
pub struct TickMeta {
    pub kind: TickKind,
    pub step: Option<String>,
    pub decider: Option<String>,
    pub summary: String,
    /// What the run becomes if a rule refuses this tick: usually `Stopped`; `Waiting` when a
    /// refused human decision should leave the gate open for another decision.
    pub on_violation: RunStatus,
}

impl TickMeta {
    pub fn new(kind: TickKind, summary: impl Into<String>) -> TickMeta {
        TickMeta {
            kind,
            step: None,
            decider: None,
            summary: summary.into(),
            on_violation: RunStatus::Stopped,
        }
    }

    pub fn step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    pub fn decider(mut self, decider: impl Into<String>) -> Self {
        self.decider = Some(decider.into());
        self
    }
}

/// A ledger result kept in memory, so a refused tick can still record that its effect ran.
pub(crate) struct PendingResult {
    pub(crate) key: String,
    pub(crate) attempt: u32,
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) summary: String,
    pub(crate) meta: String,
}

/// The genesis link of every run's chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[must_use = "a tick that is not committed rolls back"]
pub struct Tick<'s> {
    pub(crate) store: &'s Store,
    pub(crate) token: TickToken,
    pub(crate) writes: Vec<Write>,
    pub(crate) result: Option<PendingResult>,
    /// The hash of the run's previous tick, read when the transaction opened.
    pub(crate) prev_hash: String,
    pub(crate) open: bool,
}

impl<'s> Tick<'s> {
    pub(crate) fn begin(store: &'s Store, token: TickToken) -> Result<Tick<'s>> {
        query::exec(&store.conn, "BEGIN IMMEDIATE")?;
        Ok(Tick {
            store,
            token,
            writes: Vec::new(),
            result: None,
            prev_hash: GENESIS.to_owned(),
            open: true,
        })
    }

    pub(crate) fn chain_to(&mut self, prev_hash: String) {
        self.prev_hash = prev_hash;
    }

    pub fn token(&self) -> TickToken {
        self.token
    }

    /// The run's state as this tick has it so far.
    pub fn view(&self) -> View {
        self.store.view(self.token.run)
    }

    pub(crate) fn log(&mut self, w: Write) {
        self.writes.push(w);
    }

    /// The writes so far, in order.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    pub(crate) fn run_id(&self) -> i64 {
        self.token.run as i64
    }

    pub fn set_phase(&mut self, to: &str) -> Result<()> {
        let from: String = self.view().phase()?;
        if from == to {
            return Ok(());
        }
        self.store
            .conn
            .prepare_cached("UPDATE runs SET phase = ?2 WHERE id = ?1")?
            .execute(params![self.run_id(), to])?;
        self.log(Write::Phase {
            from,
            to: to.to_owned(),
        });
        Ok(())
    }

    pub fn put_fact(&mut self, kind: &str, key: &str, value: &str) -> Result<()> {
        let stored = texts::place(&self.store.conn, value)?;
        self.store
            .conn
            .prepare_cached(
                "INSERT INTO facts (run_id, kind, key, value, tick) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (run_id, kind, key) DO UPDATE SET value = ?4, tick = ?5",
            )?
            .execute(params![
                self.run_id(),
                kind,
                key,
                stored,
                self.token.seq as i64
            ])?;
        self.log(Write::PutFact {
            kind: kind.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
        });
        Ok(())
    }

    pub fn drop_fact(&mut self, kind: &str, key: &str) -> Result<()> {
        self.store
            .conn
            .prepare_cached("DELETE FROM facts WHERE run_id = ?1 AND kind = ?2 AND key = ?3")?
            .execute(params![self.run_id(), kind, key])?;
        self.log(Write::DropFact {
            kind: kind.to_owned(),
            key: key.to_owned(),
        });
        Ok(())
    }

    pub fn note(&mut self, text: &str) {
        self.log(Write::Note {
            text: text.to_owned(),
        });
    }

    pub fn put_blob(&mut self, data: &[u8]) -> Result<String> {
        query::put_blob(&self.store.conn, data)
    }

    /// Completes ledger row (`key`, `attempt`) with its result, in this tick's transaction:
    /// the effect's result and the state change it causes commit together or not at all.
    pub fn record_result(
        &mut self,
        key: &str,
        attempt: u32,
        data: Option<&[u8]>,
        summary: &str,
        meta: &str,
    ) -> Result<Option<String>> {
        let hash = self.write_result(key, attempt, LedgerStatus::Done, data, summary, meta)?;
        self.result = Some(PendingResult {
            key: key.to_owned(),
            attempt,
            data: data.map(<[u8]>::to_vec),
            summary: summary.to_owned(),
            meta: meta.to_owned(),
        });
        Ok(hash)
    }

    /// Completes ledger row (`key`, `attempt`) with a result that this tick does *not* apply
    /// (status `refused`): the effect was performed and paid for, but the state change it
    /// would cause is not made (the bundle faulted on it, or the task was abandoned while it
    /// ran). Kept so nothing performed is ever lost or silently bought again.
    pub fn record_unapplied(
        &mut self,
        key: &str,
        attempt: u32,
        data: Option<&[u8]>,
        summary: &str,
        meta: &str,
    ) -> Result<Option<String>> {
        self.write_result(key, attempt, LedgerStatus::Refused, data, summary, meta)
    }

    /// Replaces the run's engine options (opaque JSON), recorded in the chain.
    pub fn set_options(&mut self, options: &str) -> Result<()> {
        let from = self.view().run()?.options;
        self.write_options(from, options)
    }

    /// `set_options` with what they were given, as a re-derivation knows it from the record.
    pub(crate) fn write_options(&mut self, from: String, options: &str) -> Result<()> {
        self.store
            .conn
            .prepare_cached("UPDATE runs SET options = ?2 WHERE id = ?1")?
            .execute(params![self.run_id(), options])?;
        self.log(Write::Options {
            from,
            options: options.to_owned(),
        });
        Ok(())
    }

    /// Records, in tick 1 of a fork, what it was forked from (see [`Write::ForkOf`]).
    pub fn fork_of(&mut self, origin: &ForkOrigin) {
        self.log(Write::ForkOf {
            run: origin.run,
            at: origin.at,
            hash: origin.hash.clone(),
            provider: origin.provider.clone(),
            settings: origin.settings.clone(),
            title: origin.title.clone(),
        });
    }

    /// Rewords the run's task, recorded in the chain.
    pub fn set_title(&mut self, title: &str) -> Result<()> {
        let from = self.view().task()?.title;
        self.write_title(from, title)
    }

    pub(crate) fn write_title(&mut self, from: String, title: &str) -> Result<()> {
        self.store
            .conn
            .prepare_cached(
                "UPDATE tasks SET title = ?2 WHERE id = (SELECT task_id FROM runs WHERE id = ?1)",
            )?
            .execute(params![self.run_id(), title])?;
        self.log(Write::Title {
            from,
            title: title.to_owned(),
        });
        Ok(())
    }

    /// Replaces the run's bundle settings (a JSON object), recorded in the chain.
    pub fn set_settings(&mut self, settings: &str) -> Result<()> {
        let from = self.view().run()?.settings;
        self.write_settings(from, settings)
    }

    pub(crate) fn write_settings(&mut self, from: String, settings: &str) -> Result<()> {
        self.store
            .conn
            .prepare_cached("UPDATE runs SET settings = ?2 WHERE id = ?1")?
            .execute(params![self.run_id(), settings])?;
        self.log(Write::Settings {
            from,
            settings: settings.to_owned(),
        });
        Ok(())
    }

    pub(crate) fn write_result(
        &mut self,
        key: &str,
        attempt: u32,
        status: LedgerStatus,
        data: Option<&[u8]>,
        summary: &str,
        meta: &str,
    ) -> Result<Option<String>> {
        let hash = data.map(sha256_hex);
        let inline = results::place(&self.store.conn, data, hash.as_deref())?;
        let (stored_summary, stored_meta) = (
            texts::place(&self.store.conn, summary)?,
            texts::place(&self.store.conn, meta)?,
        );
        let n = self
            .store
            .conn
            .prepare_cached(
                "UPDATE ledger SET status = ?3, result_hash = ?4, result = ?9, summary = ?5, \
                 meta = ?6, result_ms = ?7 WHERE run_id = ?8 AND key = ?1 AND attempt = ?2",
            )?
            .execute(params![
                key,
                attempt,
                status.as_str(),
                hash,
                stored_summary,
                stored_meta,
                self.token.unix_ms as i64,
                self.run_id(),
                inline
            ])?;
        if n != 1 {
            return Err(KernelError::Corrupt(format!(
                "no intent row for effect {key} attempt {attempt}"
            )));
        }
        self.log(Write::Result {
            key: key.to_owned(),
            attempt,
            status,
            result_hash: hash.clone(),
            summary: summary.to_owned(),
        });
        Ok(hash)
    }

    /// Records a try made inside an effect under its own ledger key (attempt 1), with what it
    /// came to: one provider call of a fallback chain, say. `meta` is kept in the row.
    pub fn record_call(
        &mut self,
        key: &str,
        step: &str,
        kind: &str,
        status: LedgerStatus,
        summary: &str,
        meta: &str,
    ) -> Result<()> {
        let (stored_summary, stored_meta) = (
            texts::place(&self.store.conn, summary)?,
            texts::place(&self.store.conn, meta)?,
        );
        self.store
            .conn
            .prepare_cached(
                "INSERT INTO ledger (key, attempt, run_id, seq, step, kind, retry_safe, status, \
                 summary, meta, intent_ms, result_ms) VALUES (?1, 1, ?2, ?3, ?4, ?5, 1, ?6, ?7, \
                 ?8, ?9, ?9)",
            )?
            .execute(params![
                key,
                self.run_id(),
                self.token.seq as i64,
                step,
                kind,
                status.as_str(),
                stored_summary,
                stored_meta,
                self.token.unix_ms as i64
            ])?;
        self.log(Write::Call {
            key: key.to_owned(),
            step: step.to_owned(),
            kind: kind.to_owned(),
            status,
            summary: summary.to_owned(),
        });
        Ok(())
    }

    /// Marks earlier attempts at `key` that never finished as superseded by a new attempt.
    pub fn supersede(&mut self, key: &str, attempt: u32) -> Result<()> {
        self.store
            .conn
            .prepare_cached(
                "UPDATE ledger SET status = 'superseded' WHERE run_id = ?3 AND key = ?1 \
                 AND attempt = ?2 AND status = 'intent'",
            )?
            .execute(params![key, attempt, self.run_id()])?;
        Ok(())
    }

    /// Opens a gate; its id is this tick's seq. What the decider is shown is hashed so a
    /// decision stays bound to exactly that text.
    pub fn open_gate(
        &mut self,
        name: &str,
        decider: Decider,
        risk: Risk,
        summary: &str,
    ) -> Result<u64> {
        let id = self.token.seq;
        let shown_hash = sha256_hex(summary.as_bytes());
        let stored = texts::place(&self.store.conn, summary)?;
        self.store
            .conn
            .prepare_cached(
                "INSERT INTO gates (run_id, id, name, status, decider, risk, summary, shown_hash, \
                 opened_tick) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?2)",
            )?
            .execute(params![
                self.run_id(),
                id as i64,
                name,
                decider.as_str(),
                risk.as_str(),
                stored,
                shown_hash
            ])?;
        self.log(Write::GateOpen {
            id,
            name: name.to_owned(),
            decider,
            risk,
            shown_hash,
        });
        Ok(id)
    }

    /// Records a decision on a pending gate. Only the decider the gate was opened for may
    /// decide it, except that a human may take over a gate an agent was to decide (an agent
    /// that a rule keeps refusing, say): an agent can never decide a gate given to a human.
    pub fn decide_gate(
        &mut self,
        id: u64,
        approved: bool,
        decider: Decider,
        by: &str,
        transport: &str,
        note: Option<&str>,
    ) -> Result<Gate> {
        self.decide_gate_edited(id, approved, decider, by, transport, note, None)
    }

    /// [`Tick::decide_gate`], approving `edited` instead of what the gate showed: the edited
    /// text and its hash are recorded with the decision, so the chain proves both what the
    /// decider was shown and what they approved. Only an approval can carry edits.
    #[allow(clippy::too_many_arguments)]
    pub fn decide_gate_edited(
        &mut self,
        id: u64,
        approved: bool,
        decider: Decider,
        by: &str,
        transport: &str,
        note: Option<&str>,
        edited: Option<&str>,
    ) -> Result<Gate> {
        if edited.is_some() && !approved {
            return Err(KernelError::EditedRejection(id.to_string()));
        }
        let gate = query::gate(&self.store.conn, self.token.run, id)?
            .filter(|g| g.status == GateStatus::Pending)
            .ok_or_else(|| KernelError::NoSuchGate(id.to_string()))?;
        let take_over = gate.decider == Decider::Agent && decider == Decider::Human;
        if gate.decider != decider && !take_over {
            return Err(KernelError::WrongDecider {
                name: gate.name,
                expected: gate.decider.to_string(),
                got: decider.to_string(),
            });
        }
        let status = if approved {
            GateStatus::Approved
        } else {
            GateStatus::Rejected
        };
        let stored_note = texts::place_opt(&self.store.conn, note)?;
        self.store
            .conn
            .prepare_cached(
                "UPDATE gates SET status = ?3, decided_tick = ?4, decided_by = ?5, transport = ?6, \
                 note = ?7 WHERE run_id = ?1 AND id = ?2",
            )?
            .execute(params![
                self.run_id(),
                id as i64,
                status.as_str(),
                self.token.seq as i64,
                by,
                transport,
                stored_note
            ])?;
        self.log(Write::GateDecide {
            id,
            approved,
            decider,
            by: by.to_owned(),
            transport: transport.to_owned(),
            note: note.map(str::to_owned),
            edited: edited.map(str::to_owned),
            edited_hash: edited.map(|e| sha256_hex(e.as_bytes())),
        });
        Ok(gate)
    }

    /// Sets the run's status; a final status closes the task too.
    pub fn set_status(&mut self, status: RunStatus, reason: Option<&str>) -> Result<()> {
        self.set_status_coded(status, reason, None)
    }

    /// `set_status` with a typed code (see [`Write::RunStatus`]).
    pub fn set_status_coded(
        &mut self,
        status: RunStatus,
        reason: Option<&str>,
        code: Option<&str>,
    ) -> Result<()> {
        self.store
            .conn
            .prepare_cached("UPDATE runs SET status = ?2, stop_reason = ?3 WHERE id = ?1")?
            .execute(params![self.run_id(), status.as_str(), reason])?;
        let task_status = match status {
            RunStatus::Done => Some(TaskStatus::Done),
            RunStatus::Failed => Some(TaskStatus::Failed),
            RunStatus::Abandoned => Some(TaskStatus::Abandoned),
            _ => None,
        };
        if let Some(ts) = task_status {
            self.store
                .conn
                .prepare_cached(
                    "UPDATE tasks SET status = ?2 WHERE id = (SELECT task_id FROM runs WHERE id = ?1)",
                )?
                .execute(params![self.run_id(), ts.as_str()])?;
        }
        self.log(Write::RunStatus {
            status,
            reason: reason.map(str::to_owned),
            code: code.map(str::to_owned),
        });
        Ok(())
    }
}

impl Drop for Tick<'_> {
    fn drop(&mut self) {
        self.rollback();
    }
}
