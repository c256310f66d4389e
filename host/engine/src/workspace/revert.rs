//! Taking a run's diffs back out of the working tree, for a fork that goes back to an earlier
//! tick: the tree must be what it was at that tick, and nothing else of the user's may change.

use super::git;
use crate::error::Result;
use loom_kernel::{LedgerStatus, Store};
use std::path::Path;

/// One diff a run applied: its effect key and the diff, from the recorded request.
pub(crate) struct AppliedDiff {
    pub key: String,
    pub diff: String,
}

/// The diffs run `run` applied to the tree after tick `at`, in the order it applied them.
pub(crate) fn diffs_after(store: &Store, run: u64, at: u64) -> Result<Vec<AppliedDiff>> {
    let last = store.run(run)?.last_seq;
    let mut out = Vec::new();
    for row in store.ledger_between(run, at, last)? {
        let performed = matches!(row.status, LedgerStatus::Done | LedgerStatus::Refused);
        if row.seq <= at || row.kind != "apply-diff" || !performed {
            continue;
        }
        let Some(hash) = &row.request_hash else {
            continue;
        };
        let request = store.blob(hash)?.ok_or_else(|| {
            loom_kernel::KernelError::Corrupt(format!(
                "the request of effect {} attempt {} is missing from the database",
                row.key, row.attempt
            ))
        })?;
        let request: serde_json::Value = serde_json::from_slice(&request).map_err(|e| {
            loom_kernel::KernelError::Corrupt(format!(
                "the request of effect {} attempt {} does not parse: {e}",
                row.key, row.attempt
            ))
        })?;
        if let Some(diff) = request["diff"].as_str() {
            out.push(AppliedDiff {
                key: row.key.clone(),
                diff: diff.to_owned(),
            });
        }
    }
    Ok(out)
}

/// Takes `diffs` back out of the tree at `root`, newest first, with `git apply --reverse`;
/// returns the keys of those taken out. A diff that is no longer in the tree (taken out
/// already, by an earlier try or by hand) is passed over. One that will not come out cleanly
/// (its lines changed since) stops it all: the ones already taken out are put back, and the
/// error names the diff and what git said, so uncommitted work is never overwritten.
pub(crate) fn revert(
    root: &Path,
    diffs: &[AppliedDiff],
    scratch: &Path,
) -> std::result::Result<Vec<String>, String> {
    let mut done: Vec<(&AppliedDiff, std::path::PathBuf)> = Vec::new();
    let put_back = |done: &[(&AppliedDiff, std::path::PathBuf)]| {
        for (_, file) in done.iter().rev() {
            let _ = git(
                root,
                &["apply", "--whitespace=nowarn", &file.to_string_lossy()],
            );
        }
    };
    for (i, d) in diffs.iter().enumerate().rev() {
        let file = scratch.join(format!("revert-{i}.diff"));
        std::fs::write(&file, &d.diff)
            .map_err(|e| format!("could not write {}: {e}", file.display()))?;
        let name = file.to_string_lossy().into_owned();
        let reverse = ["apply", "--reverse", "--whitespace=nowarn"];
        let check = git(root, &[&reverse[..], &["--check", &name]].concat())?;
        if !check.status.success() {
            let forward = git(root, &["apply", "--check", "--whitespace=nowarn", &name])?;
            if forward.status.success() {
                let _ = std::fs::remove_file(&file);
                continue;
            }
            put_back(&done);
            return Err(format!(
                "the working tree cannot be taken back: the diff of effect {} no longer comes \
                 out cleanly ({}); commit or stash your changes to those files, or fork in a \
                 clean checkout",
                d.key,
                String::from_utf8_lossy(&check.stderr).trim()
            ));
        }
        let out = git(root, &[&reverse[..], &[&name]].concat())?;
        if !out.status.success() {
            put_back(&done);
            return Err(format!(
                "git could not take the diff of effect {} out of the tree: {}",
                d.key,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        done.push((d, file));
    }
    let keys = done.iter().map(|(d, _)| d.key.clone()).collect();
    for (_, file) in &done {
        let _ = std::fs::remove_file(file);
    }
    Ok(keys)
}
