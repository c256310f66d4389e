//! Committing a tick: the rules run inside the open transaction, then the tick is chained and
//! committed, or rolled back and its refusal recorded in a tick of its own.

use crate::error::{KernelError, Result};
use crate::hash::Sha256;
use crate::model::*;
use crate::tick::{Rules, Tick, TickMeta};
use crate::{query, texts};
use rusqlite::params;

impl Tick<'_> {
    /// Runs `rules` against the tick's state inside the open transaction, then commits.
    ///
    /// On a violation the tick rolls back; the violation (and, if the tick carried an effect's
    /// result, that result, marked refused) is recorded in a tick of its own, and
    /// `KernelError::Violated` is returned. If the rules cannot be evaluated, the tick rolls
    /// back and `KernelError::Rules` is returned; nothing is written.
    pub fn commit(mut self, meta: TickMeta, rules: Option<&dyn Rules>) -> Result<TickRow> {
        if let Some(rules) = rules {
            let verdict = rules.check(&self.token, &self.view());
            match verdict {
                Ok(v) if v.is_empty() => {}
                Ok(violations) => {
                    self.rollback();
                    self.record_violation(&meta, &violations)?;
                    return Err(KernelError::Violated(violations));
                }
                Err(fault) => {
                    self.rollback();
                    return Err(KernelError::Rules(fault));
                }
            }
        }
        self.finish(meta)
    }

    fn record_violation(mut self, meta: &TickMeta, violations: &[Violation]) -> Result<()> {
        query::exec(&self.store.conn, "BEGIN IMMEDIATE")?;
        self.open = true;
        let refused = std::mem::take(&mut self.writes);
        if let Some(r) = self.result.take() {
            let meta = refused_by(&r.meta, violations);
            self.write_result(
                &r.key,
                r.attempt,
                LedgerStatus::Refused,
                r.data.as_deref(),
                &r.summary,
                &meta,
            )?;
        }
        for v in violations {
            self.write_violation(meta.step.as_deref(), v)?;
        }
        self.log(Write::Refused { changes: refused });
        let first = &violations[0];
        let reason = format!(
            "rule {} refused {}: {}",
            first.rule, meta.summary, first.message
        );
        self.set_status(meta.on_violation, Some(&reason))?;
        let vmeta = TickMeta {
            kind: TickKind::Violation,
            step: meta.step.clone(),
            decider: meta.decider.clone(),
            summary: reason,
            on_violation: meta.on_violation,
        };
        self.finish(vmeta).map(|_| ())
    }

    /// Records that rule `v` refused this tick's step.
    pub(crate) fn write_violation(&mut self, step: Option<&str>, v: &Violation) -> Result<()> {
        let rows = serde_json::to_string(&v.rows)
            .map_err(|e| KernelError::Corrupt(format!("violation rows: {e}")))?;
        self.store
            .conn
            .prepare_cached(
                "INSERT INTO violations (run_id, seq, unix_ms, step, rule, message, rows) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                self.run_id(),
                self.token.seq as i64,
                self.token.unix_ms as i64,
                step,
                v.rule,
                texts::place(&self.store.conn, &v.message)?,
                texts::place(&self.store.conn, &rows)?
            ])?;
        self.log(Write::Violation {
            rule: v.rule.clone(),
            message: v.message.clone(),
            rows: v.rows.clone(),
        });
        Ok(())
    }

    fn finish(mut self, meta: TickMeta) -> Result<TickRow> {
        let changes = serde_json::to_string(&self.writes)
            .map_err(|e| KernelError::Corrupt(format!("change list: {e}")))?;
        let prev_hash = std::mem::take(&mut self.prev_hash);
        let row = TickRow {
            run_id: self.token.run,
            seq: self.token.seq,
            unix_ms: self.token.unix_ms,
            kind: meta.kind,
            step: meta.step,
            decider: meta.decider,
            summary: meta.summary,
            changes,
            hash: String::new(),
            prev_hash,
        };
        let row = TickRow {
            hash: tick_hash(&row),
            ..row
        };
        let inserted = self
            .store
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ticks (run_id, seq, unix_ms, kind, step, decider, summary, \
                 changes, prev_hash, hash, id) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
            )?
            .execute(params![
                row.run_id as i64,
                row.seq as i64,
                row.unix_ms as i64,
                row.kind.as_str(),
                row.step,
                row.decider,
                texts::place(&self.store.conn, &row.summary)?,
                texts::place(
                    &self.store.conn,
                    &texts::compact_json(&self.store.conn, &row.changes)?
                )?,
                row.prev_hash,
                row.hash,
                query::tick_id(row.run_id, row.seq)
            ])?;
        if inserted != 1 {
            return Err(KernelError::Conflict {
                run: row.run_id,
                seq: row.seq,
            });
        }
        query::exec(&self.store.conn, "COMMIT")?;
        self.open = false;
        Ok(row)
    }

    pub(crate) fn rollback(&mut self) {
        if self.open {
            // A failed rollback leaves SQLite to roll back when the connection closes; there
            // is nothing better to do with the error here.
            let _ = query::exec(&self.store.conn, "ROLLBACK");
            self.open = false;
        }
    }
}

/// The hash that links tick `row` into its run's chain: it covers the previous link, the
/// token, what the tick says it was and every write it made.
/// `meta` (a JSON object) with the ids of the rules that refused the result added as
/// `refused_by`, so the engine can tell a result refused for what it says from one refused for
/// what it costs. Metadata that is not an object is kept as it is.
fn refused_by(meta: &str, violations: &[Violation]) -> String {
    match serde_json::from_str::<serde_json::Value>(meta) {
        Ok(serde_json::Value::Object(mut m)) => {
            let rules: Vec<serde_json::Value> =
                violations.iter().map(|v| v.rule.clone().into()).collect();
            m.insert("refused_by".into(), rules.into());
            serde_json::Value::Object(m).to_string()
        }
        _ => meta.to_owned(),
    }
}

pub fn tick_hash(row: &TickRow) -> String {
    let mut h = Sha256::new();
    for part in [
        row.prev_hash.as_str(),
        &row.run_id.to_string(),
        &row.seq.to_string(),
        &row.unix_ms.to_string(),
        row.kind.as_str(),
        row.step.as_deref().unwrap_or(""),
        row.decider.as_deref().unwrap_or(""),
        &row.summary,
        &row.changes,
    ] {
        // Length-prefixed so that moving bytes between fields changes the hash.
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    crate::hash::hex(&h.finish())
}
