//! An example rule set for `loom replay --invariants`: "every gate is decided by a human".
//!
//! It is stricter than any policy loom ships with, which is the point: replay a run recorded
//! under `supervised` or `autonomous` against it to see the first decision that a human would
//! have had to make.

use loom_sdk::{view, Decider, Failure, Gate, GateStatus, Rules, TickToken, Violation};

/// The rule's id, as reported by `loom replay`.
pub const RULE: &str = "humans-decide-every-gate";

pub struct HumanGates;

/// The violations in `gates`: each decided gate whose decider was not a human.
pub fn check(gates: &[Gate]) -> Vec<Violation> {
    gates
        .iter()
        .filter(|g| g.status != GateStatus::Pending && g.decider != Decider::Human)
        .map(|g| {
            Violation::new(
                RULE,
                format!(
                    "gate {} (#{}) was decided by {} `{}`, not by a human",
                    g.name,
                    g.id,
                    g.decider.as_str(),
                    g.decided_by.as_deref().unwrap_or("unknown")
                ),
                vec![format!("gate:{}", g.id)],
            )
        })
        .collect()
}

impl Rules for HumanGates {
    /// Reads every gate, not only the latest opening of each (`view::latest_gate`): replay
    /// checks the rule at every tick, and a decision must be judged whatever gate it was on.
    /// A run has a few gate openings, so the read stays small.
    fn check(_tick: TickToken) -> Result<Vec<Violation>, Failure> {
        Ok(check(&view::gates()))
    }
}

loom_sdk::invariants!(HumanGates);

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(id: u64, status: GateStatus, decider: Decider) -> Gate {
        Gate {
            id,
            name: "plan".into(),
            status,
            decider,
            opened_tick: id,
            decided_by: Some("rule".into()),
            note: None,
        }
    }

    #[test]
    fn only_decided_gates_of_other_deciders_fire() {
        let gates = [
            gate(3, GateStatus::Approved, Decider::Rule),
            gate(5, GateStatus::Pending, Decider::Agent),
            gate(7, GateStatus::Rejected, Decider::Human),
            gate(9, GateStatus::Rejected, Decider::Agent),
        ];
        let v = check(&gates);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].rows, vec!["gate:3".to_string()]);
        assert!(v[1].message.contains("#9") && v[1].message.contains("agent"));
    }
}
