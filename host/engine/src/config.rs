//! The project's configuration: `loom.toml` in the project root, or `.loom/config.toml`.

use crate::error::EngineError;
use loom_kernel::{Decider, Durability};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Who decides gates, in one word; individual gates can be overridden under `[gates.NAME]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// A human decides every gate.
    Manual,
    /// Each gate goes to the decider its bundle declares, but high-risk gates always go to a human.
    #[default]
    Supervised,
    /// Gates a bundle gives to a human go to an agent instead, unless the bundle's step logic
    /// demands a human for this opening (e.g. tests were touched).
    Autonomous,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    pub decider: Option<Decider>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Provider specs tried in order, e.g. `["scripted:replies.toml"]`.
    #[serde(default)]
    pub chain: Vec<String>,
    pub model: Option<String>,
    /// Most output tokens one call may produce.
    pub max_tokens: Option<u32>,
    /// This role's share of a run: US dollars, and tokens (input + output).
    pub budget_usd: Option<f64>,
    pub budget_tokens: Option<u64>,
}

/// What a run may spend on model calls, checked at every commit.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// US dollars per run; the tick whose result would take the run past it is refused.
    pub max_usd: Option<f64>,
    /// Tokens (input + output) per run.
    pub max_tokens: Option<u64>,
    /// Run under a dollar budget with providers whose calls' cost cannot be known (no
    /// figure reported, no price configured): their calls count as nothing. Without it
    /// such a run is refused before it starts.
    #[serde(default)]
    pub allow_unknown_cost: bool,
}

/// A model's price in US dollars per million tokens, for providers that report no cost.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// What the MCP server does when an agent asks it to decide a gate the policy gives to a
/// human.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HumanGates {
    /// Refuse, naming where a person can decide it.
    #[default]
    Refuse,
    /// Ask the person at the MCP client through its elicitation form (when the client
    /// declares it), and record their answer as a human decision.
    Elicit,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    #[serde(default)]
    pub human_gates: HumanGates,
}

/// The Telegram bot inside `loom serve` (`[telegram]`). The token is never in the config: it
/// names the environment variable that holds it, so a committed config leaks nothing.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The environment variable holding the bot token (from BotFather).
    pub token_env: String,
    /// Chats the bot posts to and listens in (ids as Telegram gives them; groups are negative).
    #[serde(default)]
    pub chats: Vec<i64>,
    /// Telegram user ids (as TOML keys, quoted) allowed to decide, each with the name their
    /// decisions are recorded under.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// Where the Bot API lives; a test points it at a loopback server.
    #[serde(default = "telegram_api_base")]
    pub api_base: String,
}

fn telegram_api_base() -> String {
    "https://api.telegram.org".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub policy: Policy,
    pub durability: Durability,
    /// Most ticks one `loom run`/`resume` may take before it stops: a bundle whose logic loops
    /// is stopped instead of spinning forever.
    pub max_ticks: u64,
    /// Retries of a transient provider error before the next provider in the chain is tried.
    pub max_retries: u32,
    /// Seconds an agent call may take.
    pub agent_timeout_s: u64,
    /// Seconds a configured command may take.
    pub command_timeout_s: u64,
    /// The chain every role without its own `[agents.ROLE]` uses.
    pub default_chain: Vec<String>,
    pub agents: BTreeMap<String, AgentConfig>,
    pub gates: BTreeMap<String, GateConfig>,
    /// Named shell commands a bundle may ask for, e.g. `test = "cargo test"`.
    pub commands: BTreeMap<String, String>,
    /// Settings handed to the bundle (frozen into each run at its start).
    pub bundle: toml::Table,
    pub budget: BudgetConfig,
    /// Prices by model name (as the provider reports it).
    pub prices: BTreeMap<String, Price>,
    pub mcp: McpConfig,
    pub telegram: Option<TelegramConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: Policy::Supervised,
            durability: Durability::Full,
            max_ticks: 200,
            max_retries: 2,
            agent_timeout_s: 600,
            command_timeout_s: 900,
            // The user's own Claude Code login: no API key to set up.
            default_chain: vec!["claude-code".into()],
            agents: BTreeMap::new(),
            gates: BTreeMap::new(),
            commands: BTreeMap::new(),
            bundle: toml::Table::new(),
            budget: BudgetConfig::default(),
            prices: BTreeMap::new(),
            mcp: McpConfig::default(),
            telegram: None,
        }
    }
}

/// Where a project's config may be, as messages name it.
pub const FILES: &str =
    "the project's config (loom.toml, or .loom/config.toml as `loom init` writes it)";

impl Config {
    /// Where the config lives in `root`, if anywhere: `loom.toml` wins over `.loom/config.toml`.
    pub fn locate(root: &Path) -> Option<PathBuf> {
        [
            root.join("loom.toml"),
            root.join(".loom").join("config.toml"),
        ]
        .into_iter()
        .find(|p| p.is_file())
    }

    pub fn load(root: &Path) -> Result<Config, EngineError> {
        match Self::locate(root) {
            None => Ok(Config::default()),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| EngineError::Config {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                Self::parse(&text).map_err(|message| EngineError::Config { path, message })
            }
        }
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let bad = |m: &f64| !(m.is_finite() && *m >= 0.0);
        if let Some(m) = c.budget.max_usd.filter(bad) {
            return Err(format!(
                "budget.max_usd is {m}; it must be a non-negative number of dollars"
            ));
        }
        for (role, a) in &c.agents {
            if let Some(m) = a.budget_usd.filter(bad) {
                return Err(format!(
                    "agents.{role}.budget_usd is {m}; it must be a non-negative number of dollars"
                ));
            }
        }
        c.check_chains()?;
        for (model, p) in &c.prices {
            if !(p.input.is_finite() && p.input >= 0.0 && p.output.is_finite() && p.output >= 0.0) {
                return Err(format!(
                    "prices.\"{model}\" must give non-negative input and output dollars per \
                     million tokens"
                ));
            }
        }
        Ok(c)
    }

    /// Every provider spec of every chain is well formed and holds no secret: checked when the
    /// config is read, so a bad one is a config error before any spec is stored or shown.
    fn check_chains(&self) -> Result<(), String> {
        let chains = std::iter::once(("default_chain".to_owned(), &self.default_chain)).chain(
            self.agents
                .iter()
                .map(|(role, a)| (format!("agents.{role}.chain"), &a.chain)),
        );
        for (name, chain) in chains {
            for (i, spec) in chain.iter().enumerate() {
                loom_providers::validate_spec(spec)
                    .map_err(|e| format!("{name}[{i}]: {e}; {}", e.hint()))?;
            }
        }
        Ok(())
    }

    /// What a call cost: the provider's figure, else its tokens at the configured price.
    pub fn cost_usd(
        &self,
        reported: Option<f64>,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Option<f64> {
        reported.or_else(|| {
            self.prices
                .get(model)
                .map(|p| (input_tokens as f64 * p.input + output_tokens as f64 * p.output) / 1e6)
        })
    }

    /// The provider chain for `role`: its own, else the default one.
    pub fn chain_for(&self, role: &str) -> &[String] {
        match self.agents.get(role) {
            Some(a) if !a.chain.is_empty() => &a.chain,
            _ => &self.default_chain,
        }
    }

    /// The bundle settings as a JSON object (TOML → JSON), frozen into a run at its start.
    pub fn bundle_settings(&self) -> String {
        let value = toml_to_json(&toml::Value::Table(self.bundle.clone()));
        value.to_string()
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// The config `loom init` writes: every setting, commented, at its default.
pub const TEMPLATE: &str = r#"# loom configuration. Every key is optional; the values shown are the defaults.

# Who decides gates: "manual" (a human decides every gate), "supervised" (the bundle's
# declared decider; high-risk gates always go to a human), "autonomous" (an agent decides
# gates a bundle gives to a human, unless the bundle demands a human for that opening).
# policy = "supervised"

# "full": a committed tick survives power loss (synchronous=FULL). "normal": it survives the
# process being killed; the last ticks may be lost on power loss, and ticks are much cheaper.
# durability = "full"

# max_ticks = 200          # most ticks one `loom run`/`loom resume` takes before it stops
# max_retries = 2          # retries of a transient provider error before falling back
# agent_timeout_s = 600
# command_timeout_s = 900

# The provider chain of every agent role that has none of its own, tried in order. The default
# uses your Claude Code login. Others: "anthropic:MODEL", "openrouter:MODEL", "ollama:MODEL",
# "scripted:FILE" (canned replies, offline).
# default_chain = ["claude-code"]

# [agents.reviewer]
# chain = ["scripted:.loom/replies.toml"]
# model = "..."
# max_tokens = 4096

# [gates.accept]
# decider = "human"        # override the policy for one gate: human | agent | rule

# Commands a bundle may run by name (through `sh -c`, in the project root).
# [commands]
# test = "cargo test"

# What one run may spend on model calls, in US dollars. Checked as a rule at every commit: the
# tick whose result would take the run past it is refused and the run stops.
# [budget]
# max_usd = 5.0
# max_tokens = 2000000     # input + output, all calls of the run
# A dollar budget needs every call's cost: a provider that reports none (anthropic, ollama)
# needs a price below, or a token cap, or this (its calls then count as $0):
# allow_unknown_cost = false
# A role's own share: [agents.reviewer] budget_usd = 1.0, budget_tokens = 500000

# Prices (US dollars per million tokens) for models whose provider reports no cost; a call's
# cost is the provider's figure when it gives one, else tokens times this price.
# [prices."claude-sonnet-4-5"]
# input = 3.0
# output = 15.0

# An agent in an MCP host may never decide a gate the policy gives to a human. With "elicit",
# loom asks the person at the MCP client instead, through the client's own form (only clients
# that declare elicitation), and records their answer as theirs.
# [mcp]
# human_gates = "refuse"   # refuse | elicit

# A Telegram bot inside `loom serve`: human gates reach the allowed chats with Approve / Reject
# buttons, and a press by an allowed user is their decision. The token stays in the environment.
# [telegram]
# token_env = "LOOM_TELEGRAM_TOKEN"
# chats = [123456789]
# users = { "123456789" = "ann" }

# Settings handed to the bundle, frozen into each run when it starts.
# [bundle]
# max-fix-rounds = 3
# test-globs = ["tests/**", "**/*_test.*"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let c = Config::parse(TEMPLATE).unwrap();
        assert_eq!(c.policy, Policy::Supervised);
        assert_eq!(c.durability, Durability::Full);
        assert_eq!(c.max_ticks, Config::default().max_ticks);
    }

    #[test]
    fn roles_fall_back_to_the_default_chain_and_settings_become_json() {
        let c = Config::parse(
            r#"
policy = "autonomous"
default_chain = ["scripted:a.toml"]
[agents.reviewer]
chain = ["scripted:b.toml"]
[gates.accept]
decider = "human"
[bundle]
max-fix-rounds = 2
test-globs = ["t/**"]
"#,
        )
        .unwrap();
        assert_eq!(c.chain_for("reviewer"), ["scripted:b.toml"]);
        assert_eq!(c.chain_for("planner"), ["scripted:a.toml"]);
        assert_eq!(c.gates["accept"].decider, Some(Decider::Human));
        let s: serde_json::Value = serde_json::from_str(&c.bundle_settings()).unwrap();
        assert_eq!(s["max-fix-rounds"], 2);
        assert_eq!(s["test-globs"][0], "t/**");
    }

    #[test]
    fn a_typo_is_an_error_that_names_the_key() {
        let err = Config::parse("polcy = \"manual\"").unwrap_err();
        assert!(err.contains("polcy"), "{err}");
        let err = Config::parse("policy = \"sometimes\"").unwrap_err();
        assert!(err.contains("sometimes") || err.contains("policy"), "{err}");
    }

    #[test]
    fn every_chain_is_validated_and_a_secret_in_one_is_never_repeated() {
        let err = Config::parse(
            "default_chain = [\"claude-code\"]\n[agents.reviewer]\n\
             chain = [\"scripted:r.toml\", \"anthropic:m?key=sk-ant-api03-abcdefghijklmnop\"]",
        )
        .unwrap_err();
        assert!(err.starts_with("agents.reviewer.chain[1]: "), "{err}");
        assert!(
            err.contains("key_env") && !err.contains("abcdefgh"),
            "{err}"
        );
        let err = Config::parse("default_chain = [\"gpt-9:large\"]").unwrap_err();
        assert!(
            err.contains("default_chain[0]") && err.contains("gpt-9"),
            "{err}"
        );
        let err = Config::parse("default_chain = [\"ollama:m?strem=true\"]").unwrap_err();
        assert!(err.contains("unknown option \"strem\""), "{err}");
    }

    #[test]
    fn a_refused_provider_flag_is_a_configuration_error() {
        let refused = loom_providers::validate_spec("anthropic:m?key=x").unwrap_err();
        let err = EngineError::from(refused);
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(
            err.to_string().starts_with("provider spec: option \"key\""),
            "{err}"
        );
        assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
    }

    #[test]
    fn a_bad_chain_in_the_file_is_a_config_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("loom.toml"),
            "default_chain = [\"gpt-9:x\"]",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("loom.toml"), "{err}");
    }

    #[test]
    fn budgets_and_prices_must_be_non_negative_and_price_unreported_calls() {
        let err = Config::parse("[budget]\nmax_usd = -1.0").unwrap_err();
        assert!(err.contains("budget.max_usd"), "{err}");
        let err = Config::parse("[prices.m]\ninput = -3.0\noutput = 1.0").unwrap_err();
        assert!(err.contains("prices.\"m\""), "{err}");
        let c = Config::parse("[prices.m]\ninput = 3.0\noutput = 15.0").unwrap();
        assert_eq!(c.cost_usd(Some(0.5), "m", 1000, 1000), Some(0.5));
        assert_eq!(c.cost_usd(None, "m", 2_000_000, 0), Some(6.0));
        assert_eq!(c.cost_usd(None, "other", 10, 10), None);
    }
}
