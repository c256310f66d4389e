//! Forks: a run whose first ticks re-execute another run's, and which then goes on its own
//! way. Tick 1 of a fork records where it comes from ([`crate::Write::ForkOf`]); what follows
//! is ordinary ticks, so everything that reads a run reads a fork.

use crate::error::{KernelError, Result};
use crate::model::{TickRow, Write};
use serde::Serialize;

/// Where a fork comes from and what it changes at its fork point, as its tick 1 records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForkOrigin {
    /// The parent run.
    pub run: u64,
    /// The last tick the fork shares with its parent.
    pub at: u64,
    /// The hash of the parent's tick `at`: what the fork's prefix proves it shares.
    pub hash: String,
    /// The provider every agent role calls after the fork point, if it changes.
    pub provider: Option<String>,
    /// The bundle settings after the fork point, if they change.
    pub settings: Option<String>,
    /// The task's wording after the fork point, if it changes.
    pub title: Option<String>,
}

impl ForkOrigin {
    /// The origin recorded in `first` (a run's tick 1), if the run is a fork.
    pub fn of(first: &TickRow) -> Result<Option<ForkOrigin>> {
        if first.seq != 1 {
            return Ok(None);
        }
        let writes: Vec<Write> = serde_json::from_str(&first.changes).map_err(|e| {
            KernelError::Corrupt(format!(
                "the change list of tick 1 of run #{} does not parse: {e}",
                first.run_id
            ))
        })?;
        Ok(writes.into_iter().find_map(|w| match w {
            Write::ForkOf {
                run,
                at,
                hash,
                provider,
                settings,
                title,
            } => Some(ForkOrigin {
                run,
                at,
                hash,
                provider,
                settings,
                title,
            }),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TickKind, TickRow};

    fn first(changes: &str) -> TickRow {
        TickRow {
            run_id: 2,
            seq: 1,
            unix_ms: 5,
            kind: TickKind::Start,
            step: None,
            decider: None,
            summary: "s".into(),
            changes: changes.into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_fork_s_origin_is_read_from_its_first_tick() {
        let w = vec![Write::ForkOf {
            run: 1,
            at: 4,
            hash: "ab".into(),
            provider: Some("scripted:x".into()),
            settings: None,
            title: None,
        }];
        let t = first(&serde_json::to_string(&w).unwrap());
        let o = ForkOrigin::of(&t).unwrap().unwrap();
        assert_eq!((o.run, o.at, o.hash.as_str()), (1, 4, "ab"));
        assert_eq!(o.provider.as_deref(), Some("scripted:x"));
        // A run that is not a fork has none; a change list that does not parse is damage.
        assert_eq!(ForkOrigin::of(&first("[]")).unwrap(), None);
        assert!(ForkOrigin::of(&first("not json")).is_err());
    }
}
