//! Why the engine stopped a run, as a typed code with its data. The record keeps the code and
//! the facts; advice ("fix it and resume") is rendered by each transport from the code, so
//! rewording it never changes a recorded run. Runs of format 1 recorded their stops as one
//! text with the advice in it, and keep that text when they are replayed.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Stop {
    /// The drive took `max_ticks` ticks without the run coming to rest.
    MaxTicks { taken: u64 },
    /// The bundle trapped, ran out of a limit, or broke the contract.
    BundleFault { message: String },
    /// An effect failed outright (a provider's permanent error, no provider, a command that
    /// could not start).
    EffectFailed { message: String },
    /// The bundle could not use a step's result (it said so, as a typed error).
    ResultRefused {
        bundle: String,
        step: String,
        message: String,
    },
}

impl Stop {
    /// What happened: the text recorded as the run's stop reason.
    pub fn fact(&self) -> String {
        match self {
            Stop::MaxTicks { taken } => {
                format!("stopped after {taken} ticks (max_ticks); the bundle may be looping")
            }
            Stop::BundleFault { message } | Stop::EffectFailed { message } => message.clone(),
            Stop::ResultRefused {
                bundle,
                step,
                message,
            } => format!("bundle {bundle} could not use the result of {step}: {message}"),
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Stop::MaxTicks { .. } => {
                "`loom log` shows the last steps; raise max_ticks in the config if the work is \
                 long, then `loom resume`; `loom abandon` drops the task"
            }
            Stop::BundleFault { .. } => {
                "the bundle faults the same way on every try: `loom resume` will stop again; \
                 `loom abandon` drops the task (a paid result is kept in the ledger)"
            }
            Stop::EffectFailed { .. } => "fix the cause, then `loom resume`",
            Stop::ResultRefused { .. } => "`loom resume` runs the step again",
        }
    }

    /// The format 1 wording, advice included, for replaying runs recorded with it.
    pub(crate) fn legacy_text(&self) -> String {
        match self {
            Stop::MaxTicks { taken } => format!(
                "stopped after {taken} ticks (max_ticks in loom.toml); the bundle may be \
                 looping. `loom log` shows the last steps; `loom resume` goes on"
            ),
            Stop::BundleFault { message } => message.clone(),
            Stop::EffectFailed { message } => format!("{message}; fix it and `loom resume`"),
            Stop::ResultRefused { .. } => {
                format!("{}; `loom resume` runs the step again", self.fact())
            }
        }
    }

    /// The code as recorded (JSON).
    pub(crate) fn code(&self) -> String {
        // Strings and integers only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// The stop a recorded code names; `None` for text that is not one (format 1 runs).
    pub fn parse(code: &str) -> Option<Stop> {
        serde_json::from_str(code).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_round_trips_and_holds_no_advice() {
        let s = Stop::EffectFailed {
            message: "no provider is configured for role worker".into(),
        };
        let code = s.code();
        assert_eq!(Stop::parse(&code), Some(s.clone()));
        assert!(code.starts_with("{\"code\":\"effect-failed\""), "{code}");
        assert!(!s.fact().contains("loom resume"));
        assert!(s.legacy_text().contains("loom resume"));
    }
}
