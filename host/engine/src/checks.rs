//! `loom providers check`: every provider the config names, built and probed without a
//! billed call.

use crate::Engine;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ProviderCheck {
    pub spec: String,
    /// The roles whose chain holds it (`default` for `default_chain`).
    pub roles: Vec<String>,
    pub ok: bool,
    pub detail: String,
    /// Whether each call's cost is known: reported by the provider, or priced in the config.
    pub cost_known: bool,
    /// Set when a dollar budget cannot count this provider's calls (a run using it would be
    /// refused before it starts): what to configure.
    pub cost_warning: Option<String>,
}

impl Engine {
    /// Each distinct provider spec of the config, with the roles using it and what a probe
    /// found. Never calls a model.
    pub fn check_providers(&self) -> Vec<ProviderCheck> {
        let mut specs: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |spec: &str, role: &str| match specs.iter_mut().find(|(s, _)| s == spec) {
            Some((_, roles)) => roles.push(role.to_owned()),
            None => specs.push((spec.to_owned(), vec![role.to_owned()])),
        };
        for spec in &self.config.default_chain {
            add(spec, "default");
        }
        for (role, agent) in &self.config.agents {
            for spec in &agent.chain {
                add(spec, role);
            }
        }
        specs
            .into_iter()
            .map(|(spec, roles)| {
                let built = loom_providers::from_spec(&spec, &self.root);
                let (mut cost_known, mut cost_warning) = (true, None);
                if let Ok(p) = &built {
                    let priced = p
                        .model()
                        .is_some_and(|m| self.config.prices.contains_key(m));
                    cost_known = p.reports_cost() || priced;
                    cost_warning = roles.iter().find_map(|r| {
                        let role = (r != "default").then_some(r.as_str());
                        crate::cost_check::unbounded(&self.config, role, &spec, &**p)
                    });
                }
                let result = built.and_then(|p| p.check());
                ProviderCheck {
                    ok: result.is_ok(),
                    detail: match result {
                        Ok(d) => d,
                        Err(e) => e.to_string(),
                    },
                    cost_known,
                    cost_warning,
                    spec,
                    roles,
                }
            })
            .collect()
    }
}
