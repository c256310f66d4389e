//! The apply-diff effect: its request carries the pre-image of every file the diff touches,
//! so a retry after a crash can tell applied, not applied and half applied apart (see
//! `workspace::apply_diff`).

use super::{Context, Failed, Performed};
use crate::error::{EngineError, Result};
use crate::workspace::preimage::PreImage;
use crate::workspace::{self, Applied, ApplyError};
use loom_kernel::{LedgerRow, LedgerStatus, Store};
use loom_runtime::{DiffResult, Outcome};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

pub(crate) struct DiffJob {
    diff: String,
    /// `None` when none could be kept (the request's `preimage_missing` says why).
    pre: Option<PreImage>,
    /// An earlier attempt at this diff never finished, so the tree may be half patched.
    retry: bool,
}

/// The request stored with the intent, and the job, for applying `diff` from the reply under
/// `source`.
pub(super) fn prepare(
    store: &Store,
    run: u64,
    unfinished: &[LedgerRow],
    root: &Path,
    source: &str,
    diff: String,
) -> Result<(Value, DiffJob)> {
    let earlier = earlier_request(store, run, unfinished, source, &diff)?;
    let retry = earlier.is_some();
    let pre = match earlier {
        // After a crash the tree may be half patched, no longer what it was: the first
        // attempt's pre-image, which each retry carries on, is the one to restore.
        Some(request) if request["preimage"].is_null() => {
            Err("an earlier, interrupted attempt at this diff kept no pre-image".to_owned())
        }
        Some(request) => Ok(PreImage::from_json(&request["preimage"]).map_err(|e| {
            // A damaged pre-image must never be restored over the user's files.
            EngineError::Effect(format!(
                "the recorded pre-image of the diff is unusable: {e}"
            ))
        })?),
        None => workspace::capture(root, &diff),
    };
    let mut request = json!({"source": source, "diff": diff,
        "preimage": pre.as_ref().map_or(Value::Null, PreImage::to_json)});
    if let Err(why) = &pre {
        request["preimage_missing"] = json!(why);
    }
    let job = DiffJob {
        diff,
        pre: pre.ok(),
        retry,
    };
    Ok((request, job))
}

/// The request of the latest attempt at applying this same diff under a key that has no
/// result yet: an attempt a crash (or a stop) interrupted. `unfinished` holds the run's
/// attempts at applying a diff under keys that had no finished attempt when last seen (the
/// tally's); each key is checked again here, so only its attempts are read, not the ledger.
fn earlier_request(
    store: &Store,
    run: u64,
    unfinished: &[LedgerRow],
    source: &str,
    diff: &str,
) -> Result<Option<Value>> {
    let mut candidates: Vec<&LedgerRow> = unfinished
        .iter()
        .filter(|r| r.kind == "apply-diff")
        .collect();
    // In the ledger's order, as a tie on (seq, attempt) was always settled.
    candidates.sort_by(|a, b| (a.seq, &a.key, a.attempt).cmp(&(b.seq, &b.key, b.attempt)));
    let mut finished: std::collections::BTreeMap<&str, bool> = Default::default();
    let mut latest: Option<((u64, u32), Value)> = None;
    for row in candidates {
        let done = match finished.get(row.key.as_str()) {
            Some(d) => *d,
            None => {
                let d = store
                    .attempts(run, &row.key)?
                    .iter()
                    .any(|r| matches!(r.status, LedgerStatus::Done | LedgerStatus::Refused));
                finished.insert(&row.key, d);
                d
            }
        };
        if done {
            continue;
        }
        let Some(bytes) = row
            .request_hash
            .as_ref()
            .map(|h| store.blob(h))
            .transpose()?
        else {
            continue;
        };
        let Some(request) = bytes.and_then(|b| serde_json::from_slice::<Value>(&b).ok()) else {
            continue;
        };
        let at = (row.seq, row.attempt);
        let same = request["source"] == source && request["diff"] == diff;
        if same && latest.as_ref().is_none_or(|(seen, _)| *seen < at) {
            latest = Some((at, request));
        }
    }
    Ok(latest.map(|(_, r)| r))
}

pub(super) fn perform(
    job: &DiffJob,
    ctx: &Context<'_>,
    started: Instant,
) -> std::result::Result<Performed, Failed> {
    let scratch = ctx
        .scratch
        .join(format!("{}.diff", ctx.effect_key.replace(['/', '#'], "_")));
    let hash = loom_kernel::hash::sha256_hex(job.diff.as_bytes());
    let result = workspace::apply_diff(ctx.root, &job.diff, job.pre.as_ref(), &scratch);
    let _ = std::fs::remove_file(&scratch);
    let mut meta = json!({"latency_ms": started.elapsed().as_millis() as u64});
    let (outcome, summary) = match result {
        Ok(a) => {
            let summary = match &a.how {
                Applied::Now => format!("diff applied to {}", a.touched.join(", ")),
                Applied::Already => format!("diff was already applied to {}", a.touched.join(", ")),
                Applied::Redone { restored } => {
                    meta["rolled_back"] = json!(restored);
                    format!(
                        "diff was half applied: rolled {} back to before the diff, then \
                         applied it to {}",
                        restored.join(", "),
                        a.touched.join(", ")
                    )
                }
            };
            let outcome = DiffResult {
                applied: true,
                diff_hash: hash,
                touched: a.touched,
                error: None,
            };
            (outcome, summary)
        }
        // Without a pre-image, a retry cannot tell "does not apply" from "half applied":
        // a human looks, rather than the bundle failing the run over a half-patched tree.
        Err(ApplyError::DidNotApply(e)) if job.retry && job.pre.is_none() => {
            return Err(Failed {
                message: format!(
                    "an interrupted attempt to apply this diff may have left the tree half \
                     patched, and no copy of the files from before it was kept ({e}); check \
                     `git diff`, finish or undo the diff by hand"
                ),
                meta: json!({"diff_hash": hash}),
            });
        }
        Err(ApplyError::DidNotApply(e)) => (
            DiffResult {
                applied: false,
                diff_hash: hash,
                touched: Vec::new(),
                error: Some(e.clone()),
            },
            format!("diff did not apply: {}", e.lines().next().unwrap_or("")),
        ),
        Err(ApplyError::Stop(message)) => {
            return Err(Failed {
                message,
                meta: json!({"diff_hash": hash}),
            })
        }
    };
    Ok(Performed {
        outcome: Outcome::Diff(outcome),
        summary,
        meta,
        blobs: vec![job.diff.clone().into_bytes()],
    })
}
