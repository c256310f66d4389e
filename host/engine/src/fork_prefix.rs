//! Checking a fork's prefix against its parent: a fork's ticks up to its fork point must be
//! the parent's, but for what makes them the fork's own.

use loom_kernel::{first_difference, tick_hash, ChainBreak, ForkOrigin, TickRow, Write};

/// The first of `fork`'s ticks 1..=`origin.at` (those it has) that is not its parent's, or a
/// parent whose tick `at` no longer has the hash the fork recorded. A fork's ticks differ from the
/// parent's only in what makes them the fork's (the run and task ids, the ids in its effect
/// keys, its own chain, and in tick 1 the wording, the bundle and the origin itself).
pub fn prefix_break(
    parent: &[TickRow],
    fork: &[TickRow],
    origin: &ForkOrigin,
) -> Option<ChainBreak> {
    let run = fork.first().map_or(0, |t| t.run_id);
    let brk = |seq: u64, problem: String, expected: String, found: String| {
        Some(ChainBreak {
            run,
            seq,
            problem,
            expected,
            found,
        })
    };
    let at = origin.at as usize;
    match parent.get(at.wrapping_sub(1)) {
        Some(p) if p.hash == origin.hash => {}
        Some(p) => {
            return brk(
                origin.at,
                format!(
                    "the fork recorded the hash of run #{}'s tick {}, which no longer has it",
                    origin.run, origin.at
                ),
                origin.hash.clone(),
                p.hash.clone(),
            )
        }
        None => {
            return brk(
                origin.at,
                format!(
                    "run #{} has no tick {} to be forked from",
                    origin.run, origin.at
                ),
                origin.hash.clone(),
                "(none)".into(),
            )
        }
    }
    for (p, f) in parent[..at].iter().zip(fork) {
        // A fork abandoned before its prefix was complete ends with its abandon.
        let last = f.seq as usize == fork.len();
        if last && f.kind == loom_kernel::TickKind::Abandon && fork.len() <= at {
            break;
        }
        // The parent's row as it reads now, not as its stored hash says: an edited row must
        // not pass for the one the fork reproduced.
        let p_now = TickRow {
            hash: tick_hash(p),
            ..p.clone()
        };
        if let Some((what, a, b)) = first_difference(&p_now, &as_parent(f, p)) {
            return brk(
                f.seq,
                format!("the fork's tick differs from run #{}'s: {what}", origin.run),
                a,
                b,
            );
        }
    }
    None
}

/// Fork tick `f` as its parent's tick `p` would read if the fork were the parent.
fn as_parent(f: &TickRow, p: &TickRow) -> TickRow {
    let mut changes = rekey(&f.changes, f.run_id, p.run_id);
    let mut summary = rekey(&f.summary, f.run_id, p.run_id);
    if f.seq == 1 {
        let mine = serde_json::from_str::<Vec<Write>>(&changes);
        let theirs = serde_json::from_str::<Vec<Write>>(&p.changes);
        if let (Ok(mut mine), Ok(theirs)) = (mine, theirs) {
            // A fork of a fork: the parent's tick 1 names its own parent.
            mine.retain(|w| !matches!(w, Write::ForkOf { .. }));
            mine.extend(
                theirs
                    .iter()
                    .filter(|w| matches!(w, Write::ForkOf { .. }))
                    .cloned(),
            );
            if let (
                Some(Write::RunStart {
                    task,
                    title,
                    bundle,
                    version,
                    bundle_hash,
                    ..
                }),
                Some(Write::RunStart {
                    task: t,
                    title: ti,
                    bundle: b,
                    version: v,
                    bundle_hash: h,
                    ..
                }),
            ) = (mine.first_mut(), theirs.first())
            {
                (*task, *title, *bundle) = (*t, ti.clone(), b.clone());
                (*version, *bundle_hash) = (v.clone(), h.clone());
            }
            if let Ok(text) = serde_json::to_string(&mine) {
                changes = text;
            }
            summary = p.summary.clone();
        }
    }
    let row = TickRow {
        run_id: p.run_id,
        prev_hash: p.prev_hash.clone(),
        summary,
        changes,
        hash: String::new(),
        ..f.clone()
    };
    TickRow {
        hash: tick_hash(&row),
        ..row
    }
}

/// `text` with run `from`'s effect keys (`r{from}/…`) made run `to`'s: the one place a run's
/// id shows inside what its ticks record.
pub(crate) fn rekey(text: &str, from: u64, to: u64) -> String {
    if from == to {
        return text.to_owned();
    }
    let pat = format!("r{from}/");
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(&pat) {
        if text[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(&format!("r{to}/"));
        last = i + pat.len();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::rekey;

    #[test]
    fn rekey_moves_a_run_s_effect_keys_and_nothing_else() {
        let text = r#"[{"key":"r3/plan#1"},{"key":"r3/gate:accept@9"},"dir3/x","rr3/y","r33/z"]"#;
        assert_eq!(
            rekey(text, 3, 7),
            r#"[{"key":"r7/plan#1"},{"key":"r7/gate:accept@9"},"dir3/x","rr3/y","r33/z"]"#
        );
        assert_eq!(
            rekey("effect r3/plan#1 is uncertain", 3, 12),
            "effect r12/plan#1 is uncertain"
        );
        assert_eq!(rekey(text, 3, 3), text);
    }
}
