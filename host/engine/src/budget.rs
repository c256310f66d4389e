//! The run's spending limits as a commit-time rule: it runs beside the bundle's rules inside
//! every tick's transaction, so the tick whose result takes the run (or one agent role) past a
//! cap is refused, and recorded as refused, like any other rule violation.

use crate::Config;
use loom_kernel::{LedgerStatus, Rules, TickToken, View, Violation};
use std::collections::BTreeMap;

pub(crate) const RULE: &str = "budget";

/// One cap: dollars and tokens, each optional.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<u64>,
}

impl Cap {
    fn is_set(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }
}

/// The caps a run is held to: frozen into the run when it starts, changed only by a recorded
/// resume, so a replay holds it to exactly what the live run was held to.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Caps {
    #[serde(default)]
    run: Cap,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    roles: BTreeMap<String, Cap>,
}

impl Caps {
    /// The caps `config` sets (possibly none).
    pub(crate) fn from_config(config: &Config) -> Caps {
        let roles = config
            .agents
            .iter()
            .map(|(role, a)| {
                let cap = Cap {
                    usd: a.budget_usd,
                    tokens: a.budget_tokens,
                };
                (role.clone(), cap)
            })
            .filter(|(_, c)| c.is_set())
            .collect();
        Caps {
            run: Cap {
                usd: config.budget.max_usd,
                tokens: config.budget.max_tokens,
            },
            roles,
        }
    }
}

#[derive(Default)]
struct Spent {
    usd: f64,
    tokens: u64,
    rows: Vec<String>,
}

pub(crate) struct Budget {
    run: Cap,
    roles: BTreeMap<String, Cap>,
    /// Dollars in refusals with as many digits as tell spend and cap apart (format 4 on);
    /// earlier runs recorded four decimals, and replay them so.
    exact: bool,
}

impl Budget {
    /// The rule for `caps`, if they set any.
    pub(crate) fn from_caps(caps: &Caps, exact: bool) -> Option<Budget> {
        (caps.run.is_set() || !caps.roles.is_empty()).then(|| Budget {
            run: caps.run.clone(),
            roles: caps.roles.clone(),
            exact,
        })
    }
}

/// Whether a ledger row's spend counts: everything performed and paid for (applied, refused,
/// failed), except a row that re-uses a result already paid for under an earlier attempt.
fn counts(l: &loom_kernel::LedgerRow, meta: &serde_json::Value) -> bool {
    matches!(
        l.status,
        LedgerStatus::Done | LedgerStatus::Refused | LedgerStatus::Failed
    ) && meta.get(REUSED_FROM).is_none()
}

/// Set in the metadata of an attempt that applies a result an earlier attempt paid for.
pub(crate) const REUSED_FROM: &str = "reused_from";

fn over(what: &str, spent: &Spent, cap: &Cap, config_key: &str, exact: bool) -> Option<Violation> {
    let message = match (cap.usd, cap.tokens) {
        (Some(max), _) if spent.usd > max && exact => {
            let (spent, max) = crate::money::usd_pair(spent.usd, max);
            format!(
                "{what} has spent {spent} on model calls, over its budget of {max} ({config_key}_usd)"
            )
        }
        (Some(max), _) if spent.usd > max => format!(
            "{what} has spent ${:.4} on model calls, over its budget of ${max:.4} ({config_key}_usd)",
            spent.usd
        ),
        (_, Some(max)) if spent.tokens > max => format!(
            "{what} has used {} tokens, over its budget of {max} ({config_key}_tokens)",
            spent.tokens
        ),
        _ => return None,
    };
    Some(Violation {
        rule: RULE.into(),
        message: format!(
            "{message} in {}; raise it and `loom resume`, or `loom abandon`",
            if exact {
                crate::config::FILES
            } else {
                "loom.toml"
            }
        ),
        rows: spent.rows.clone(),
    })
}

impl Rules for Budget {
    fn check(&self, _: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        let mut run = Spent::default();
        let mut roles: BTreeMap<String, Spent> = BTreeMap::new();
        for l in view.ledger().map_err(|e| e.to_string())? {
            if matches!(l.status, LedgerStatus::Intent | LedgerStatus::Superseded) {
                continue;
            }
            // A row whose metadata does not parse is damaged data: refuse to guess its cost.
            let meta: serde_json::Value = serde_json::from_str(&l.meta).map_err(|e| {
                format!(
                    "ledger row {}#{} has unreadable metadata: {e}",
                    l.key, l.attempt
                )
            })?;
            if !counts(&l, &meta) {
                continue;
            }
            let usd = meta["cost_usd"].as_f64().unwrap_or(0.0);
            let tokens = meta["input_tokens"].as_u64().unwrap_or(0)
                + meta["output_tokens"].as_u64().unwrap_or(0);
            if usd == 0.0 && tokens == 0 {
                continue;
            }
            let row = format!("ledger:{}#{}", l.key, l.attempt);
            let role = meta["role"].as_str().unwrap_or("").to_owned();
            for s in [&mut run, roles.entry(role).or_default()] {
                s.usd += usd;
                s.tokens += tokens;
                s.rows.push(row.clone());
            }
        }
        let mut out: Vec<Violation> = over("the run", &run, &self.run, "budget.max", self.exact)
            .into_iter()
            .collect();
        for (role, cap) in &self.roles {
            if let Some(spent) = roles.get(role) {
                let what = format!("agent role {role}");
                let key = format!("agents.{role}.budget");
                out.extend(over(&what, spent, cap, &key, self.exact));
            }
        }
        Ok(out)
    }
}

/// Two rule sets checked as one: the bundle's and the engine's own.
pub(crate) struct Both<'a>(pub &'a dyn Rules, pub &'a dyn Rules);

impl Rules for Both<'_> {
    fn check(&self, token: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        let mut v = self.0.check(token, view)?;
        v.extend(self.1.check(token, view)?);
        Ok(v)
    }
}
