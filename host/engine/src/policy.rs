//! The policy dial: who decides a gate when it opens.

use crate::config::{Config, Policy};
use loom_kernel::{Decider, Risk};
use loom_runtime::GateDecl;

/// Resolves the decider of one opening of `gate`. In order: the bundle's step logic demanding
/// a human wins; then a per-gate override in the config; then the policy.
pub fn decider_for(config: &Config, gate: &GateDecl, require_human: bool) -> Decider {
    if require_human {
        return Decider::Human;
    }
    if let Some(d) = config.gates.get(&gate.name).and_then(|g| g.decider) {
        return d;
    }
    match config.policy {
        Policy::Manual => Decider::Human,
        Policy::Supervised if gate.risk == Risk::High => Decider::Human,
        Policy::Supervised => gate.decider,
        Policy::Autonomous => match gate.decider {
            Decider::Human => Decider::Agent,
            d => d,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(decider: Decider, risk: Risk) -> GateDecl {
        GateDecl {
            name: "g".into(),
            decider,
            risk,
            role: None,
            editable: false,
            doc: String::new(),
        }
    }

    #[test]
    fn the_dial() {
        let mut c = Config::default();
        let low_rule = gate(Decider::Rule, Risk::Low);
        let high_human = gate(Decider::Human, Risk::High);
        let high_agent = gate(Decider::Agent, Risk::High);
        c.policy = Policy::Manual;
        assert_eq!(decider_for(&c, &low_rule, false), Decider::Human);
        c.policy = Policy::Supervised;
        assert_eq!(decider_for(&c, &low_rule, false), Decider::Rule);
        assert_eq!(decider_for(&c, &high_agent, false), Decider::Human);
        c.policy = Policy::Autonomous;
        assert_eq!(decider_for(&c, &high_human, false), Decider::Agent);
        assert_eq!(decider_for(&c, &low_rule, false), Decider::Rule);
        assert_eq!(
            decider_for(&c, &high_human, true),
            Decider::Human,
            "the bundle can demand a human"
        );
        c.gates.insert(
            "g".into(),
            crate::config::GateConfig {
                decider: Some(Decider::Rule),
            },
        );
        assert_eq!(
            decider_for(&c, &high_human, false),
            Decider::Rule,
            "per-gate override"
        );
        assert_eq!(decider_for(&c, &high_human, true), Decider::Human);
    }
}
