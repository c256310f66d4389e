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
                let result = loom_providers::from_spec(&spec, &self.root).and_then(|p| p.check());
                ProviderCheck {
                    ok: result.is_ok(),
                    detail: match result {
                        Ok(d) => d,
                        Err(e) => e.to_string(),
                    },
                    spec,
                    roles,
                }
            })
            .collect()
    }
}
