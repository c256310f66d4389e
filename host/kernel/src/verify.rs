//! Walking a run's hash chain.

use crate::commit::tick_hash;
use crate::model::TickRow;
use crate::tick::GENESIS;

/// The first place a run's recorded chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChainBreak {
    pub run: u64,
    /// The seq where the chain breaks.
    pub seq: u64,
    pub problem: String,
    pub expected: String,
    pub found: String,
}

/// Checks that `ticks` (one run, ordered by seq) are numbered 1..n without gaps, that each row's
/// hash matches its content, and that each links to the one before.
pub fn verify_chain(ticks: &[TickRow]) -> Result<(), ChainBreak> {
    let mut prev = GENESIS.to_owned();
    for (i, t) in ticks.iter().enumerate() {
        let want_seq = i as u64 + 1;
        let brk = |problem: &str, expected: String, found: String| ChainBreak {
            run: t.run_id,
            seq: t.seq,
            problem: problem.to_owned(),
            expected,
            found,
        };
        if t.seq != want_seq {
            return Err(brk(
                "a tick is missing or out of order",
                format!("seq {want_seq}"),
                format!("seq {}", t.seq),
            ));
        }
        if t.prev_hash != prev {
            return Err(brk(
                "the link to the previous tick does not match (a tick before it was edited, \
                 deleted or reordered)",
                prev,
                t.prev_hash.clone(),
            ));
        }
        let actual = tick_hash(t);
        if actual != t.hash {
            return Err(brk(
                "the tick's content does not match its hash (the row was edited)",
                actual,
                t.hash.clone(),
            ));
        }
        prev = t.hash.clone();
    }
    Ok(())
}
