//! `loom approve GATE --edit | --edited FILE`: approving a gate with edits. The person edits
//! exactly what the gate shows (in `$VISUAL`, `$EDITOR` or `vi`), and the decision is bound to
//! that text's hash, so an edit made on a gate that reopened meanwhile is refused. Nothing is
//! decided when the editor fails or the file cannot be read.

use anyhow::{Context, Result};
use loom_engine::{project, reads, EngineError};
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// An edited text and the shown hash of the gate text it was made from.
pub struct Edited {
    pub text: String,
    pub shown_hash: String,
}

/// What `approve` was given to approve instead of the gate's text, if anything.
pub fn edited_text(
    root: &Path,
    gate: &str,
    edit: bool,
    from: Option<&Path>,
) -> Result<Option<Edited>> {
    if !edit && from.is_none() {
        return Ok(None);
    }
    let store = crate::read_only(root)?;
    let run = reads::current_run(&store)?
        .ok_or_else(|| EngineError::Usage("no run to decide a gate of".into()))?;
    let pending = store
        .pending_gates(run.id)
        .map_err(EngineError::from)?
        .into_iter()
        .rev()
        .find(|g| g.name == gate || g.id.to_string() == gate)
        .ok_or_else(|| {
            EngineError::Usage(format!(
                "no pending gate {gate} in run #{}; `loom gates` lists the open ones",
                run.id
            ))
        })?;
    let text = match from {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the edited text from standard input")?;
            s
        }
        Some(p) => crate::errors::read_named(p, "the edited text").and_then(|b| {
            String::from_utf8(b).map_err(|_| {
                EngineError::Usage(format!("{} is not UTF-8 text", p.display())).into()
            })
        })?,
        None => in_editor(root, &pending.name, &pending.summary)?,
    };
    Ok(Some(Edited {
        text,
        shown_hash: pending.shown_hash,
    }))
}

/// Opens the user's editor on `shown` and returns what they saved.
fn in_editor(root: &Path, gate: &str, shown: &str) -> Result<String> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let safe: String = gate
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = root
        .join(project::DIR)
        .join(format!("edit-{safe}-{}.txt", std::process::id()));
    std::fs::write(&path, shown).with_context(|| format!("cannot write {}", path.display()))?;
    // Through the shell, so EDITOR may carry arguments ("code --wait"), as git allows.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let read = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(EngineError::Usage(format!(
                "the editor ({editor}) exited with {s}; nothing was decided"
            ))
            .into())
        }
        Err(e) => {
            return Err(EngineError::Usage(format!(
                "cannot start the editor ({editor}): {e}; set $EDITOR, or pass the text with \
                 --edited FILE; nothing was decided"
            ))
            .into())
        }
    }
    read.with_context(|| format!("cannot read the edited text back from {}", path.display()))
}
