//! Running one effect: the uncertain-attempt check, the intent row, performing it (or, in a
//! replay, taking the recorded attempt), and a failure's record.

use crate::driver::UNCERTAIN_PREFIX;
use crate::effects::{self, Context, Performed, Prepared};
use crate::error::Result;
use crate::recording::RecordedEffect;
use crate::stops::Stop;
use crate::Engine;
use loom_kernel::{
    Decider, GateStatus, Intent, LedgerRow, LedgerStatus, RunStatus, Tick, TickKind, TickMeta,
    TickToken,
};
use loom_runtime::Bundle;
use serde_json::json;

/// Why a result was kept without being applied, in its ledger row's metadata (`unapplied`).
const UNAPPLIED: &str = "unapplied";
/// The bundle faulted on the result: the next attempt at the step applies it again.
pub(crate) const HELD_FAULT: &str = "bundle-fault";

/// A result kept for the next attempt at its step instead of performing the effect again:
/// one the bundle faulted on, or one refused only for what it cost (raise the budget and
/// resume, and the paid reply is used, not bought again). A result a rule refused for what
/// it says is settled: the step's next execution asks anew.
fn held(row: &LedgerRow) -> bool {
    row.status == LedgerStatus::Refused
        && serde_json::from_str::<serde_json::Value>(&row.meta).is_ok_and(|m| {
            m[UNAPPLIED] == HELD_FAULT
                || m["refused_by"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty() && r.iter().all(|x| x == crate::budget::RULE))
        })
}

/// Whether a ledger row settles its effect, so the step's next execution is a new effect:
/// an applied result, or one a rule refused. A result held after a bundle fault does not.
pub(crate) fn settled(row: &LedgerRow) -> bool {
    matches!(row.status, LedgerStatus::Done | LedgerStatus::Refused) && !held(row)
}

impl Engine {
    /// Writes a performed effect's result into `tick` without applying it, marked with why.
    pub(crate) fn record_unapplied(
        &self,
        tick: &mut Tick<'_>,
        key: &str,
        attempt: u32,
        p: &Performed,
        why: &str,
    ) -> Result<()> {
        for b in &p.blobs {
            tick.put_blob(b)?;
        }
        let outcome = serde_json::to_vec(&p.outcome)
            .map_err(|e| crate::EngineError::Effect(e.to_string()))?;
        let mut meta = p.meta.clone();
        if let Some(m) = meta.as_object_mut() {
            m.insert(UNAPPLIED.into(), why.into());
        }
        tick.record_unapplied(key, attempt, Some(&outcome), &p.summary, &meta.to_string())?;
        Ok(())
    }

    /// The result held under `key` after a bundle fault, as a new attempt that applies it: no
    /// provider is called, no command runs, and the spend stays counted once.
    fn reuse_held(
        &self,
        token: &TickToken,
        key: &str,
        step: &str,
        held: &LedgerRow,
    ) -> Result<Option<(u32, Performed)>> {
        let bytes = self
            .store
            .result(token.run, key, held.attempt)?
            .ok_or_else(|| {
                loom_kernel::KernelError::Corrupt(format!(
                    "the held result of {key} attempt {} is missing",
                    held.attempt
                ))
            })?;
        let outcome = serde_json::from_slice(&bytes).map_err(|e| {
            loom_kernel::KernelError::Corrupt(format!(
                "the held result of {key} does not parse: {e}"
            ))
        })?;
        let mut meta: serde_json::Value = serde_json::from_str(&held.meta).map_err(|e| {
            loom_kernel::KernelError::Corrupt(format!("the metadata of {key} does not parse: {e}"))
        })?;
        if let Some(m) = meta.as_object_mut() {
            m.remove(UNAPPLIED);
            m.insert(crate::budget::REUSED_FROM.into(), held.attempt.into());
        }
        let intent = Intent {
            key,
            step,
            kind: &held.kind,
            retry_safe: held.retry_safe,
            request: None,
        };
        let attempt = self.store.record_intent(token, &intent)?;
        Ok(Some((
            attempt,
            Performed {
                outcome,
                summary: held.summary.clone(),
                meta,
                blobs: Vec::new(),
            },
        )))
    }

    /// Writes a performed effect's result into `tick`, with a row for each provider call that
    /// failed before one answered.
    pub(crate) fn record(
        &self,
        tick: &mut Tick<'_>,
        step: &str,
        key: &str,
        attempt: u32,
        p: &Performed,
    ) -> Result<()> {
        for b in &p.blobs {
            tick.put_blob(b)?;
        }
        let outcome = serde_json::to_vec(&p.outcome)
            .map_err(|e| crate::EngineError::Effect(e.to_string()))?;
        tick.record_result(
            key,
            attempt,
            Some(&outcome),
            &p.summary,
            &p.meta.to_string(),
        )?;
        let calls = p.meta["attempts"].as_array().cloned().unwrap_or_default();
        record_calls(tick, step, key, attempt, &calls)
    }

    /// Runs an effect under `key` with an intent row committed first. `None` when the run
    /// stopped or now waits instead (uncertain effect held, or the effect failed).
    pub(crate) fn run_effect(
        &self,
        token: TickToken,
        key: &str,
        step: &str,
        prepared: &Prepared,
        bundle: Option<&Bundle>,
    ) -> Result<Option<(u32, Performed)>> {
        if self.lock.is_none() && self.recording.is_none() {
            // Only the driver starts effects (see `lock`): refuse rather than race another.
            return Err(crate::EngineError::Usage(
                "internal: an effect was about to start without the driver lock".into(),
            ));
        }
        if let Some(last) = self.store.attempts(token.run, key)?.pop() {
            if held(&last) {
                return self.reuse_held(&token, key, step, &last);
            }
            if last.status == LedgerStatus::Intent && !last.retry_safe {
                let name = format!("{UNCERTAIN_PREFIX}{key}#{}", last.attempt);
                let gate = self
                    .store
                    .view(token.run)
                    .gates()?
                    .into_iter()
                    .rev()
                    .find(|g| g.name == name);
                match gate.map(|g| g.status) {
                    Some(GateStatus::Approved) => {}
                    Some(_) => return Ok(None),
                    None => {
                        let request = match self.recorded_request(token.run, key)? {
                            Some(r) => r,
                            None => prepared.request.to_string(),
                        };
                        let shown = format!(
                            "Step \"{step}\" ({}) was started in tick {} (effect {key}, attempt {}) but loom \
                             stopped before its result was recorded, so it may or may not have happened.\n\
                             Request: {}\nCheck the working tree. Approve to perform it again; reject to \
                             end the run.",
                            last.kind, last.seq, last.attempt, request
                        );
                        let mut tick = self.store.begin(token)?;
                        tick.open_gate(&name, Decider::Human, loom_kernel::Risk::High, &shown)?;
                        tick.set_status(
                            RunStatus::Waiting,
                            Some(&format!(
                                "effect {key} is uncertain; a human must decide gate {name}"
                            )),
                        )?;
                        let meta = TickMeta::new(
                            TickKind::Hold,
                            format!("{step}: uncertain effect held for a human"),
                        )
                        .step(step);
                        self.commit(tick, meta, bundle)?;
                        return Ok(None);
                    }
                }
            }
        }
        match self.recorded_effect(&token, key)? {
            None => {}
            Some(RecordedEffect::Done(attempt, performed)) => {
                return Ok(Some((attempt, performed)))
            }
            Some(RecordedEffect::Failed(attempt, row)) => {
                self.effect_failed(&token, key, step, attempt, &row.summary, &row.meta)?;
                return Ok(None);
            }
        }
        let request = prepared.request.to_string();
        let intent = Intent {
            key,
            step,
            kind: prepared.kind,
            retry_safe: prepared.retry_safe,
            request: Some(request.as_bytes()),
        };
        let attempt = self.store.record_intent(&token, &intent)?;
        let role = prepared.request["role"].as_str().map(str::to_owned);
        let turn = match &role {
            Some(r) => self.turn_of(token.run, r)?,
            None => 0,
        };
        let chain = match &role {
            Some(r) => self.chain_for(token.run, r)?,
            None => None,
        };
        let ctx = Context {
            root: &self.root,
            config: &self.config,
            chain: chain.as_ref(),
            turn,
            effect_key: format!("{key}.{attempt}"),
            scratch: effects::scratch(&self.root)?,
        };
        self.observer
            .borrow_mut()
            .effect_started(step, &prepared.what);
        let result = effects::perform(prepared, &ctx, step, &mut **self.observer.borrow_mut());
        self.observer.borrow_mut().effect_finished(step);
        crash_point("effect-performed");
        match result {
            Ok(p) => Ok(Some((attempt, p))),
            Err(f) => {
                let meta = json!({"failed": f.meta}).to_string();
                self.effect_failed(&token, key, step, attempt, &f.message, &meta)?;
                Ok(None)
            }
        }
    }

    /// Records that an effect failed outright and stops the run.
    fn effect_failed(
        &self,
        token: &TickToken,
        key: &str,
        step: &str,
        attempt: u32,
        message: &str,
        meta: &str,
    ) -> Result<()> {
        self.store
            .record_failed_attempt(token, key, attempt, message, meta)?;
        let stop = Stop::EffectFailed {
            message: message.to_owned(),
        };
        // Format 4 on: when no provider of the chain answered, each call gets its own row,
        // as the calls before an answer do.
        if self.run_format(token.run)? < 4 {
            return self.fault(token, Some(step), stop);
        }
        let meta: serde_json::Value = serde_json::from_str(meta).map_err(|e| {
            crate::EngineError::Kernel(loom_kernel::KernelError::Corrupt(format!(
                "the failure of effect {key} attempt {attempt} has unreadable metadata: {e}"
            )))
        })?;
        let calls = meta["failed"]["attempts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        self.fault_with(token, Some(step), stop, |tick| {
            record_calls(tick, step, key, attempt, &calls)
        })
    }

    /// How many calls `role` completed in this run: the scripted provider (and any provider
    /// that wants it) uses it to know where in a conversation it is, even after a crash.
    fn turn_of(&self, run: u64, role: &str) -> Result<u32> {
        self.with_tally(run, |t| t.turn(role))
    }
}

/// A crash on purpose, for tests of what survives one: with `LOOM_FAILPOINT` set to `name`,
/// the process dies here as under SIGKILL (no unwinding, no cleanup). Unset, it costs one
/// environment lookup per effect.
fn crash_point(name: &str) {
    if std::env::var_os("LOOM_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

/// The provider calls of `calls` (an answer's or a failure's `attempts`) that failed each get
/// a ledger row, so the ledger itself shows why a fallback happened, or why the whole chain
/// failed.
pub(crate) fn record_calls(
    tick: &mut Tick<'_>,
    step: &str,
    key: &str,
    attempt: u32,
    calls: &[serde_json::Value],
) -> Result<()> {
    for (i, call) in calls.iter().enumerate() {
        if call["outcome"] == "ok" {
            continue;
        }
        // The message already names the provider and the kind of error.
        let model = call["model"]
            .as_str()
            .map(|m| format!(" (model {m})"))
            .unwrap_or_default();
        let summary = format!("{}{model}", call["message"].as_str().unwrap_or("failed"));
        tick.record_call(
            &format!("{key}.{attempt}/call{}", i + 1),
            step,
            "agent-call",
            LedgerStatus::Failed,
            &summary,
            &call.to_string(),
        )?;
    }
    Ok(())
}
