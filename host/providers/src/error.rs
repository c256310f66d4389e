//! What can go wrong in a provider call, classified by what the caller should do next.

use std::time::Duration;

/// A failed provider call. The variant is the decision: retry, fall back, or stop.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying on the same provider: 429, 529, 5xx, a timeout, a reset connection.
    #[error("{provider}: transient error: {message}")]
    Transient {
        provider: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// This provider cannot answer this request; fall back to the next one in the chain, or stop.
    #[error("{provider}: {message}")]
    Permanent { provider: String, message: String },
    /// Retrying or falling back cannot help until a person fixes something (auth, a missing
    /// binary, a bad config file); `hint` says what to do.
    #[error("{provider}: {message} (hint: {hint})")]
    Config {
        provider: String,
        message: String,
        hint: String,
    },
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient { .. })
    }

    /// The name of the provider that failed (or, for a bad spec, the backend named in it).
    pub fn provider(&self) -> &str {
        match self {
            ProviderError::Transient { provider, .. }
            | ProviderError::Permanent { provider, .. }
            | ProviderError::Config { provider, .. } => provider,
        }
    }

    /// The error's message without the provider name or hint.
    pub fn message(&self) -> &str {
        match self {
            ProviderError::Transient { message, .. }
            | ProviderError::Permanent { message, .. }
            | ProviderError::Config { message, .. } => message,
        }
    }

    /// The fix-it hint of a `Config` error, for transports that render hints separately.
    pub fn hint(&self) -> Option<&str> {
        match self {
            ProviderError::Config { hint, .. } => Some(hint),
            _ => None,
        }
    }
}
