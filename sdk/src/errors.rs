//! The two ways a call can end without its result: the bundle refuses what it was handed
//! ([`ApplyError::Refused`]), or its own code fails ([`Failure`]).
//!
//! Both convert from anything that implements `Display`, so `?` works on the errors a bundle
//! meets: in `next` and `check` such an error is a [`Failure`] (a bug: the run stops with a
//! bundle fault carrying its text); in `apply` it is a refusal (the outcome is not usable,
//! e.g. an agent's reply in the wrong format: the run stops saying why, and `loom resume`
//! runs the step again). Return `Err(ApplyError::Failed(..))`, or `?` on a [`Failure`], for a
//! bug found in `apply`.

use core::fmt::Display;

/// A failure of the bundle's own code: the tick rolls back and the run stops with a bundle
/// fault whose message carries `message`, the `traceback` and the call's last `log` lines.
///
/// Not `Display` itself, so that every `Display` type converts into it with `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// A traceback or backtrace, if the bundle has one to give.
    pub traceback: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            traceback: None,
        }
    }

    /// Adds a traceback (shown under the message).
    pub fn traceback(mut self, traceback: impl Into<String>) -> Failure {
        self.traceback = Some(traceback.into());
        self
    }
}

impl<E: Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::new(e.to_string())
    }
}

/// Why `apply` produced no changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The outcome is not acceptable (a reply in the wrong format, a decision the bundle
    /// cannot use): loom records why and stops the run, or for a person's gate decision
    /// records nothing and tells them.
    Refused(String),
    /// The bundle's own code failed.
    Failed(Failure),
}

impl ApplyError {
    /// A refusal of the outcome, saying what was expected.
    pub fn refused(why: impl Into<String>) -> ApplyError {
        ApplyError::Refused(why.into())
    }

    /// A failure of the bundle's own code.
    pub fn failed(message: impl Into<String>) -> ApplyError {
        ApplyError::Failed(Failure::new(message))
    }
}

impl<E: Display> From<E> for ApplyError {
    fn from(e: E) -> ApplyError {
        ApplyError::Refused(e.to_string())
    }
}

impl From<Failure> for ApplyError {
    fn from(f: Failure) -> ApplyError {
        ApplyError::Failed(f)
    }
}

impl From<Failure> for crate::bindings::types::Failure {
    fn from(f: Failure) -> Self {
        crate::bindings::types::Failure {
            message: f.message,
            traceback: f.traceback,
        }
    }
}

impl From<ApplyError> for crate::bindings::types::ApplyError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Refused(why) => crate::bindings::types::ApplyError::Refused(why),
            ApplyError::Failed(f) => crate::bindings::types::ApplyError::Failed(f.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<u32, ApplyError> {
        Ok(text.parse::<u32>()?)
    }

    fn read() -> Result<u32, Failure> {
        Err(Failure::new("the fact was never written"))
    }

    fn bug() -> Result<u32, ApplyError> {
        Ok(read()?)
    }

    fn next() -> Result<u32, Failure> {
        let n: u32 = "x".parse()?;
        Ok(n)
    }

    #[test]
    fn question_mark_converts_by_where_it_is_used() {
        assert_eq!(parse("7"), Ok(7));
        assert!(
            matches!(parse("seven"), Err(ApplyError::Refused(m)) if m.contains("invalid digit"))
        );
        assert_eq!(
            bug(),
            Err(ApplyError::Failed(Failure::new(
                "the fact was never written"
            )))
        );
        assert_eq!(next().map_err(|f| f.traceback), Err(None));
        assert_eq!(
            Failure::new("m").traceback("t").traceback.as_deref(),
            Some("t")
        );
        assert_eq!(
            ApplyError::refused("no"),
            ApplyError::Refused("no".to_owned())
        );
    }
}
