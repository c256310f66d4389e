//! Bounds on everything a bundle hands back: names, texts, facts, changes, violations and the
//! manifest.
//!
//! Fuel and the memory cap ([`crate::Limits`]) bound what a call may *do*; these bound what it
//! may *leave behind*. Whatever a bundle returns is written into the run's database (a change
//! list, a fact, a gate's summary, a stop reason) and kept for ever, so without them one tick
//! could grow `.loom/loom.db` by tens of megabytes, and a dozen such ticks by half a gigabyte.
//! Going over one is a fault of the bundle (`RuntimeError::Limit`): the call's result is
//! discarded, the engine rolls the tick back and stops the run, naming the limit.
//!
//! The values are far above what the shipped `code` bundle needs (its largest value is a diff,
//! its longest text a plan or the accept gate's summary), and low enough that no single tick
//! can write more than a few megabytes. Sizes are in bytes of UTF-8.

use crate::types::{Change, Effect, NextStep};
use loom_kernel::{View, Violation};
use std::collections::HashMap;

/// Any name or id a bundle declares or uses: phases, steps, gates, rules, templates and their
/// parameters, roles, commands, fact kinds, the bundle's own name and version. Names are shown
/// in every log line and status screen; 128 bytes is ample for a readable one.
pub const NAME_BYTES_MAX: usize = 128;

/// A fact key, a ledger key (`apply-diff`'s source) or a row reference in a violation. A key
/// may be a repository path (the `code` bundle keys touched files by path): 4 KiB is Linux's
/// `PATH_MAX`.
pub const KEY_BYTES_MAX: usize = 4 << 10;

/// One fact's value (JSON text). The largest real one is a whole diff (`diff/latest`); 1 MiB
/// is a very large change, and facts are read back by every later call of the run.
pub const FACT_VALUE_BYTES_MAX: usize = 1 << 20;

/// One note in a tick's change list. Notes are remarks for people reading `loom log`.
pub const NOTE_BYTES_MAX: usize = 64 << 10;

/// What a gate's decider is shown (a gate step's summary), and a violation's message. A person
/// reads it before deciding; the `code` bundle's accept summary is a few kilobytes.
pub const SUMMARY_BYTES_MAX: usize = 64 << 10;

/// The text a run ends or stops with: `finish`, `fail`, and `apply` refusing an outcome. It
/// becomes the run's stop reason and its last tick's summary.
pub const FINISH_TEXT_BYTES_MAX: usize = 64 << 10;

/// Every string one call of `next`, `apply` or `check` returns, together: the per-item limits
/// above allow many items, and this keeps one tick's writes to a few megabytes. An agent call's
/// arguments (a prompt may quote a diff and a plan) count here too.
pub const CALL_RESULT_BYTES_MAX: usize = 4 << 20;

/// Changes one `apply` may return (one tick's writes). The `code` bundle's largest tick writes
/// a few dozen (one fact per touched file).
pub const CHANGES_PER_TICK_MAX: usize = 1_000;

/// Facts one run may hold at once. Every fact of a kind is handed to the bundle whenever it
/// reads that kind, so an unbounded fact table would slow every later call of the run.
pub const FACTS_PER_RUN_MAX: u64 = 10_000;

/// Violations one `check` may report, and rows one violation may name: each becomes a row in
/// the violations table, and a person reads the list.
pub const VIOLATIONS_PER_CHECK_MAX: usize = 100;
pub const ROWS_PER_VIOLATION_MAX: usize = 1_000;

/// The manifest, measured as its JSON text. The `code` bundle's is a few KiB, most of it
/// prompt templates; it is read at every load and shown by `loom bundle check`.
pub const MANIFEST_BYTES_MAX: usize = 1 << 20;

/// `log` lines kept per call (the newest), attached to the message of a fault in that call:
/// enough for a panic message and what led to it, and a message stays readable.
pub const LOG_LINES_KEPT: usize = 10;

/// One `log` line; a longer one is cut, not refused (lines are diagnostics, not the record).
pub const LOG_LINE_BYTES_MAX: usize = 2 << 10;

/// A `failure`'s message, and its traceback, as kept in the fault's message (the run's stop
/// reason): a longer one is cut, so the start of a runaway traceback still reaches the reader.
pub const FAILURE_TEXT_BYTES_MAX: usize = 16 << 10;

/// `text` cut to at most `max` bytes at a character boundary, saying how much was cut.
pub(crate) fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end).into()
}

/// A limit a bundle went over: which, by how much, and in what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exceeded {
    pub(crate) limit: &'static str,
    pub(crate) max: u64,
    pub(crate) found: u64,
    pub(crate) unit: &'static str,
    /// What was too large, as a phrase: "its finish text", "change 3 (a note)".
    pub(crate) what: String,
}

pub(crate) type Checked = Result<(), Exceeded>;

/// `Ok` if `found` is within `max`; `what` is only built for the error.
fn within(
    limit: &'static str,
    max: usize,
    unit: &'static str,
    found: usize,
    what: impl FnOnce() -> String,
) -> Checked {
    if found <= max {
        return Ok(());
    }
    Err(Exceeded {
        limit,
        max: max as u64,
        found: found as u64,
        unit,
        what: what(),
    })
}

/// Checks `$text`'s length against the constant `$limit`, named in the error as written.
macro_rules! bytes {
    ($limit:ident, $text:expr, $($what:tt)+) => {
        within(stringify!($limit), $limit, "bytes", $text.len(), || format!($($what)+))
    };
}

fn name(text: &str, what: impl FnOnce() -> String) -> Checked {
    within("NAME_BYTES_MAX", NAME_BYTES_MAX, "bytes", text.len(), what)
}

fn key(text: &str, what: impl FnOnce() -> String) -> Checked {
    within("KEY_BYTES_MAX", KEY_BYTES_MAX, "bytes", text.len(), what)
}

/// A fixed phrase, for the `what` of a check.
fn says(what: &'static str) -> impl FnOnce() -> String {
    move || what.to_owned()
}

fn total(found: usize) -> Checked {
    within(
        "CALL_RESULT_BYTES_MAX",
        CALL_RESULT_BYTES_MAX,
        "bytes",
        found,
        || "everything it returned".to_owned(),
    )
}

/// What `next` returned.
pub(crate) fn next_step(step: &NextStep) -> Checked {
    match step {
        NextStep::Finish(text) => bytes!(FINISH_TEXT_BYTES_MAX, text, "its finish text"),
        NextStep::Fail(text) => bytes!(FINISH_TEXT_BYTES_MAX, text, "its fail text"),
        NextStep::Gate(g) => {
            name(&g.gate, says("the gate's name"))?;
            bytes!(
                SUMMARY_BYTES_MAX,
                g.summary,
                "the summary of gate {}",
                g.gate
            )
        }
        NextStep::Effect(e) => {
            name(&e.step, says("the step's name"))?;
            match &e.effect {
                Effect::Agent(a) => {
                    name(&a.role, says("the agent call's role"))?;
                    name(&a.template, says("the agent call's template"))?;
                    let mut size = e.step.len() + a.role.len() + a.template.len();
                    for arg in &a.args {
                        name(&arg.name, says("an argument's name"))?;
                        size += arg.name.len() + arg_bytes(&arg.value);
                    }
                    total(size)
                }
                Effect::ApplyDiff(d) => key(&d.source_key, says("the diff's source key")),
                Effect::Command(c) => name(&c.name, says("the command's name")),
            }
        }
    }
}

fn arg_bytes(value: &crate::types::ArgValue) -> usize {
    use crate::types::ArgValue;
    match value {
        ArgValue::Text(t) => t.len(),
        ArgValue::TextList(items) => items.iter().map(String::len).sum(),
        ArgValue::Integer(_) | ArgValue::Boolean(_) => 8,
    }
}

/// What `apply` refused an outcome with.
pub(crate) fn refusal(text: &str) -> Checked {
    bytes!(FINISH_TEXT_BYTES_MAX, text, "its refusal of the outcome")
}

/// The changes `apply` returned, including the facts the run would hold after them (read
/// through `view`, the state they would be applied to). The `Err` is the view failing.
pub(crate) fn changes(changes: &[Change], view: &View) -> loom_kernel::Result<Checked> {
    let n = changes.len();
    if let Err(e) = within(
        "CHANGES_PER_TICK_MAX",
        CHANGES_PER_TICK_MAX,
        "changes",
        n,
        || "the list of changes".to_owned(),
    ) {
        return Ok(Err(e));
    }
    let mut size = 0;
    let mut puts = 0u64;
    for (i, c) in changes.iter().enumerate() {
        let at = |what: &str| format!("change {} of {n} ({what})", i + 1);
        let checked = match c {
            Change::Phase(p) => {
                size += p.len();
                name(p, || at("a phase"))
            }
            Change::PutFact {
                kind,
                key: k,
                value,
            } => {
                size += kind.len() + k.len() + value.len();
                puts += 1;
                name(kind, || at("a fact's kind"))
                    .and_then(|()| key(k, || at("a fact's key")))
                    .and_then(|()| {
                        bytes!(
                            FACT_VALUE_BYTES_MAX,
                            value,
                            "{}",
                            at(&format!("fact {kind}/{k}"))
                        )
                    })
            }
            Change::DropFact { kind, key: k } => {
                size += kind.len() + k.len();
                name(kind, || at("a fact's kind")).and_then(|()| key(k, || at("a fact's key")))
            }
            Change::Note(text) => {
                size += text.len();
                bytes!(NOTE_BYTES_MAX, text, "{}", at("a note"))
            }
        };
        if let Err(e) = checked {
            return Ok(Err(e));
        }
    }
    if let Err(e) = total(size) {
        return Ok(Err(e));
    }
    if puts == 0 {
        return Ok(Ok(()));
    }
    let held = view.fact_count()?;
    // Cheap case first: even if every write added a fact, the run stays within the limit.
    if held + puts <= FACTS_PER_RUN_MAX {
        return Ok(Ok(()));
    }
    let after = facts_after(changes, view, held)?;
    Ok(within(
        "FACTS_PER_RUN_MAX",
        FACTS_PER_RUN_MAX as usize,
        "facts",
        after as usize,
        || format!("the run's facts after these {n} changes"),
    ))
}

/// How many facts the run holds after `changes`, given it holds `held` now. Looks up only the
/// facts the changes touch (at most [`CHANGES_PER_TICK_MAX`]).
fn facts_after(changes: &[Change], view: &View, held: u64) -> loom_kernel::Result<u64> {
    let mut present: HashMap<(&str, &str), bool> = HashMap::new();
    let mut count = held;
    for c in changes {
        let (kind, k, put) = match c {
            Change::PutFact { kind, key, .. } => (kind.as_str(), key.as_str(), true),
            Change::DropFact { kind, key } => (kind.as_str(), key.as_str(), false),
            Change::Phase(_) | Change::Note(_) => continue,
        };
        let was = match present.get(&(kind, k)) {
            Some(p) => *p,
            None => view.fact(kind, k)?.is_some(),
        };
        match (was, put) {
            (false, true) => count += 1,
            (true, false) => count = count.saturating_sub(1),
            _ => {}
        }
        present.insert((kind, k), put);
    }
    Ok(count)
}

/// The violations `check` returned.
pub(crate) fn violations(found: &[Violation]) -> Checked {
    within(
        "VIOLATIONS_PER_CHECK_MAX",
        VIOLATIONS_PER_CHECK_MAX,
        "violations",
        found.len(),
        || "the list of violations".to_owned(),
    )?;
    let mut size = 0;
    for (i, v) in found.iter().enumerate() {
        let at = |what: &str| format!("violation {} ({what})", i + 1);
        name(&v.rule, || at("its rule"))?;
        bytes!(SUMMARY_BYTES_MAX, v.message, "{}", at("its message"))?;
        within(
            "ROWS_PER_VIOLATION_MAX",
            ROWS_PER_VIOLATION_MAX,
            "rows",
            v.rows.len(),
            || at("its rows"),
        )?;
        size += v.rule.len() + v.message.len();
        for row in &v.rows {
            key(row, || at("a row it names"))?;
            size += row.len();
        }
    }
    total(size)
}

/// The manifest's size as JSON, counted without building the text.
pub(crate) fn manifest(m: &crate::types::Manifest) -> Checked {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Plain data with string keys: serialising it cannot fail, and if it somehow did, the
    // bytes counted so far are still a lower bound of its size.
    let _ = serde_json::to_writer(&mut count, m);
    within(
        "MANIFEST_BYTES_MAX",
        MANIFEST_BYTES_MAX,
        "bytes",
        count.0,
        || "its manifest (as JSON)".to_owned(),
    )
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
