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

/// What one ledger row spent, as the budget counts it.
pub(crate) struct Charge {
    usd: f64,
    tokens: u64,
    role: String,
}

/// The spend of ledger row `l`: `None` when it does not count (not performed, re-used, or
/// free); `Err` when its metadata does not parse, which is damaged data whose cost the budget
/// refuses to guess.
pub(crate) fn charge(l: &loom_kernel::LedgerRow) -> Result<Option<Charge>, String> {
    if matches!(l.status, LedgerStatus::Intent | LedgerStatus::Superseded) {
        return Ok(None);
    }
    let meta: serde_json::Value = serde_json::from_str(&l.meta).map_err(|e| {
        format!(
            "ledger row {}#{} has unreadable metadata: {e}",
            l.key, l.attempt
        )
    })?;
    if !counts(l, &meta) {
        return Ok(None);
    }
    let usd = meta["cost_usd"].as_f64().unwrap_or(0.0);
    let tokens =
        meta["input_tokens"].as_u64().unwrap_or(0) + meta["output_tokens"].as_u64().unwrap_or(0);
    if usd == 0.0 && tokens == 0 {
        return Ok(None);
    }
    let role = meta["role"].as_str().unwrap_or("").to_owned();
    Ok(Some(Charge { usd, tokens, role }))
}

impl Rules for Budget {
    /// The spend recounted from every ledger row of the run: exact, and what a violation
    /// names. A live run asks this only when its running total ([`Running`]) comes near a cap.
    fn check(&self, _: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        let mut run = Spent::default();
        let mut roles: BTreeMap<String, Spent> = BTreeMap::new();
        for l in view.ledger().map_err(|e| e.to_string())? {
            let Some(c) = charge(&l)? else {
                continue;
            };
            let row = format!("ledger:{}#{}", l.key, l.attempt);
            for s in [&mut run, roles.entry(c.role).or_default()] {
                s.usd += c.usd;
                s.tokens += c.tokens;
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

/// A run's spend summed row by row as its ledger grows (see `tally.rs`), so a commit need not
/// read the whole ledger to know it is under its caps.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Running {
    run: Total,
    roles: BTreeMap<String, Total>,
    /// The first row whose cost could not be read: the exact check reports it.
    damaged: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Total {
    usd: f64,
    /// The sum of the dollar amounts' sizes, which bounds how far a sum taken in another
    /// order (the exact check's) can be from this one.
    usd_size: f64,
    tokens: u64,
}

impl Total {
    /// Whether `cap` holds for this total and for the same amounts summed in any order.
    fn clearly_within(&self, cap: &Cap) -> bool {
        let usd = match cap.usd {
            None => true,
            // Summing n amounts in two orders differs by at most ~2n·2⁻⁵³ of their size; a
            // millionth leaves room for far more rows than a run holds.
            Some(max) if self.usd_size > 0.0 => self.usd + self.usd_size * 1e-6 < max,
            Some(max) => self.usd <= max,
        };
        let tokens = cap.tokens.is_none_or(|max| self.tokens <= max);
        usd && tokens
    }
}

impl Running {
    /// Counts ledger row `l` in (once: a row is added when its status is final).
    pub(crate) fn add(&mut self, l: &loom_kernel::LedgerRow) {
        match charge(l) {
            Ok(Some(c)) => {
                for t in [&mut self.run, self.roles.entry(c.role).or_default()] {
                    t.usd += c.usd;
                    t.usd_size += c.usd.abs();
                    t.tokens += c.tokens;
                }
            }
            Ok(None) => {}
            Err(e) => {
                self.damaged.get_or_insert(e);
            }
        }
    }
}

#[cfg(test)]
impl Running {
    /// The run's dollars and tokens.
    pub(crate) fn run_totals(&self) -> (f64, u64) {
        (self.run.usd, self.run.tokens)
    }

    /// Equal, but for the last bits of dollar sums taken in another order.
    pub(crate) fn same_as(&self, other: &Running) -> bool {
        let close = |a: &Total, b: &Total| {
            a.tokens == b.tokens
                && (a.usd - b.usd).abs() <= 1e-9 * a.usd_size.max(b.usd_size)
                && (a.usd_size - b.usd_size).abs() <= 1e-9 * a.usd_size.max(b.usd_size)
        };
        self.damaged.is_some() == other.damaged.is_some()
            && close(&self.run, &other.run)
            && self.roles.len() == other.roles.len()
            && self
                .roles
                .iter()
                .all(|(r, t)| other.roles.get(r).is_some_and(|o| close(t, o)))
    }
}

impl Budget {
    /// Whether `spent` is under every cap by more than summing order could change: then the
    /// exact check would find nothing either.
    fn clearly_within(&self, spent: &Running) -> bool {
        spent.damaged.is_none()
            && spent.run.clearly_within(&self.run)
            && self
                .roles
                .iter()
                .all(|(role, cap)| spent.roles.get(role).is_none_or(|t| t.clearly_within(cap)))
    }
}

/// The budget rule for one commit, with the run's spend as it stands in the open tick: the
/// exact recount runs only when that spend is near a cap (or a row is damaged), so an ordinary
/// commit reads nothing of the ledger.
pub(crate) struct AtCommit<'a> {
    pub budget: &'a Budget,
    /// `None` when no running spend is at hand yet: the exact recount decides.
    pub spent: Option<Running>,
}

impl Rules for AtCommit<'_> {
    fn check(&self, token: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        if self
            .spent
            .as_ref()
            .is_some_and(|s| self.budget.clearly_within(s))
        {
            return Ok(Vec::new());
        }
        self.budget.check(token, view)
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
