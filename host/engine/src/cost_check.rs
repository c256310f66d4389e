//! Whether a dollar budget can be enforced on a provider's calls: a call counts at the cost
//! the provider reports, else at the configured price of its model. A provider that reports
//! none (Anthropic's API, Ollama) without a price would spend unseen, so before a run opens,
//! and in `loom providers check`, loom says so and asks for a choice: a price, a token cap,
//! or `allow_unknown_cost`.

use crate::Config;
use loom_providers::Provider;

/// Why `role`'s dollar budget cannot count the calls of `provider` (built from `spec`), or
/// `None` when it can (or no dollar budget applies, or the config accepts it).
pub(crate) fn unbounded(
    config: &Config,
    role: Option<&str>,
    spec: &str,
    provider: &dyn Provider,
) -> Option<String> {
    let agent = role.and_then(|r| config.agents.get(r));
    let usd_cap = config.budget.max_usd.is_some() || agent.is_some_and(|a| a.budget_usd.is_some());
    let token_cap =
        config.budget.max_tokens.is_some() || agent.is_some_and(|a| a.budget_tokens.is_some());
    if !usd_cap || token_cap || config.budget.allow_unknown_cost || provider.reports_cost() {
        return None;
    }
    let model = provider
        .model()
        .map(str::to_owned)
        .or_else(|| agent.and_then(|a| a.model.clone()));
    if model
        .as_ref()
        .is_some_and(|m| config.prices.contains_key(m))
    {
        return None;
    }
    let price = model.as_deref().unwrap_or("MODEL");
    Some(format!(
        "`{spec}` reports no cost and the config has no price for {}, so a dollar budget \
         cannot count its calls; choose one in {}: a price ([prices.\"{price}\"] input = …, output = … in \
         dollars per million tokens), a token cap ([budget] max_tokens = …), or \
         [budget] allow_unknown_cost = true (its calls then count as $0)",
        model.as_deref().map_or("its model".to_owned(), |m| format!("model {m}")),
        crate::config::FILES
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_providers::{Progress, ProviderError, Request, Response};

    /// A provider that reports no cost, as the Anthropic API and Ollama do.
    struct Silent;

    impl Provider for Silent {
        fn name(&self) -> &str {
            "silent"
        }
        fn complete(
            &self,
            _: &Request,
            _: &mut dyn FnMut(Progress),
        ) -> Result<Response, ProviderError> {
            Err(ProviderError::Permanent {
                provider: "silent".into(),
                message: "never called here".into(),
            })
        }
        fn model(&self) -> Option<&str> {
            Some("m")
        }
    }

    fn config(toml: &str) -> Config {
        Config::parse(toml).unwrap()
    }

    #[test]
    fn a_dollar_budget_needs_a_price_a_token_cap_or_an_explicit_yes() {
        let check = |c: &Config, role| unbounded(c, role, "silent:m", &Silent);
        let refused = check(&config("[budget]\nmax_usd = 1.0"), None).unwrap();
        assert!(refused.contains("[prices.\"m\"]") && refused.contains("allow_unknown_cost"));
        assert!(check(&config("[budget]\nmax_usd = 1.0\nmax_tokens = 5"), None).is_none());
        assert!(check(
            &config("[budget]\nmax_usd = 1.0\nallow_unknown_cost = true"),
            None
        )
        .is_none());
        let priced = "[budget]\nmax_usd = 1.0\n[prices.m]\ninput = 1.0\noutput = 2.0";
        assert!(check(&config(priced), None).is_none());
        assert!(
            check(&config(""), None).is_none(),
            "no dollar budget, nothing to count"
        );
        let role = "[agents.reviewer]\nbudget_usd = 0.5";
        assert!(check(&config(role), Some("reviewer")).is_some());
        assert!(check(&config(role), Some("planner")).is_none());
    }
}
