//! The run's spending limit as a commit-time rule: it runs beside the bundle's rules inside
//! every tick's transaction, so the tick whose result takes the run past its budget is refused
//! (and recorded as refused) like any other rule violation.

use loom_kernel::{LedgerStatus, Rules, TickToken, View, Violation};

pub(crate) const RULE: &str = "budget";

pub(crate) struct Budget {
    pub max_usd: f64,
}

impl Rules for Budget {
    fn check(&self, _: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        let mut spent = 0.0;
        let mut rows = Vec::new();
        for l in view.ledger().map_err(|e| e.to_string())? {
            if l.status != LedgerStatus::Done {
                continue;
            }
            let meta: serde_json::Value = serde_json::from_str(&l.meta).unwrap_or_default();
            if let Some(c) = meta["cost_usd"].as_f64() {
                spent += c;
                rows.push(format!("ledger:{}#{}", l.key, l.attempt));
            }
        }
        if spent <= self.max_usd {
            return Ok(Vec::new());
        }
        Ok(vec![Violation {
            rule: RULE.into(),
            message: format!(
                "the run has spent ${spent:.4} on model calls, over its budget of ${:.4} \
                 (budget.max_usd in loom.toml); raise it and `loom resume`, or `loom abandon`",
                self.max_usd
            ),
            rows,
        }])
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
