//! Fallback chains: retries on transient errors, fallbacks on permanent ones, and a record of
//! every attempt so the engine can ledger each one and `loom log` can show why a fallback
//! happened.

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Progress, Provider, ProviderError, Request, Response};

/// The first backoff when a transient error gives no `retry_after`; doubled on each retry.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// No single wait exceeds this, whatever a server's `retry_after` says: a run should report
/// trouble within a minute, not sit silent for the hour a rate-limit header might ask for.
pub const SLEEP_CAP: Duration = Duration::from_secs(30);
/// `max_retries` above this is clamped: with the cap above, ten retries already wait up to five
/// minutes per provider.
pub const MAX_RETRIES_LIMIT: u32 = 10;

/// How the chain waits between retries; injectable so tests record instead of sleeping.
pub type Sleeper = Box<dyn Fn(Duration) + Send + Sync>;

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    Ok,
    Transient,
    Permanent,
    Config,
}

impl AttemptOutcome {
    fn of(err: &ProviderError) -> AttemptOutcome {
        match err {
            ProviderError::Transient { .. } => AttemptOutcome::Transient,
            ProviderError::Permanent { .. } => AttemptOutcome::Permanent,
            ProviderError::Config { .. } => AttemptOutcome::Config,
        }
    }
}

/// One call to one provider made by a [`Chain`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub provider: String,
    /// The model that answered, or for a failed attempt the one requested, if any.
    pub model: Option<String>,
    pub outcome: AttemptOutcome,
    pub latency_ms: u64,
    /// The error's text, or a one-line usage summary for a success.
    pub message: String,
}

/// Providers tried in order; see [`Chain::complete`].
pub struct Chain {
    providers: Vec<Box<dyn Provider>>,
    max_retries: u32,
    backoff_base: Duration,
    sleep_cap: Duration,
    sleeper: Sleeper,
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("providers", &self.names())
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("sleep_cap", &self.sleep_cap)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// A chain retrying each provider's transient errors up to `max_retries` times (clamped to
    /// [`MAX_RETRIES_LIMIT`]), sleeping for real between retries.
    pub fn new(providers: Vec<Box<dyn Provider>>, max_retries: u32) -> Chain {
        Chain {
            providers,
            max_retries: max_retries.min(MAX_RETRIES_LIMIT),
            backoff_base: BACKOFF_BASE,
            sleep_cap: SLEEP_CAP,
            sleeper: Box::new(std::thread::sleep),
        }
    }

    /// Replaces how the chain waits between retries.
    pub fn with_sleeper(mut self, sleeper: Sleeper) -> Chain {
        self.sleeper = sleeper;
        self
    }

    /// Replaces the first backoff and the cap on any single wait.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Chain {
        self.backoff_base = base;
        self.sleep_cap = cap;
        self
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Asks the providers in order until one answers.
    ///
    /// - `Transient`: retried on the same provider up to `max_retries` times, waiting the
    ///   error's `retry_after` or else an exponential backoff, either capped. When retries run
    ///   out the chain falls back to the next provider: an overloaded backend is exactly when a
    ///   fallback helps.
    /// - `Permanent`: falls back to the next provider at once.
    /// - `Config`: stops at once; another provider would hide a setup a person must fix.
    ///
    /// If every provider fails, the last error is returned. The attempts are returned in either
    /// case, in the order made; at most `providers × (max_retries + 1)` of them.
    pub fn complete(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> (Result<Response, ProviderError>, Vec<Attempt>) {
        let mut attempts = Vec::new();
        let mut last_error = None;
        for (position, provider) in self.providers.iter().enumerate() {
            let next = self.providers.get(position + 1).map(|p| p.name());
            // Bounded: every pass either returns, breaks, or increments `retries`.
            for retries in 0..=self.max_retries {
                let started = Instant::now();
                let result = provider.complete(req, progress);
                let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let error = match result {
                    Ok(response) => {
                        attempts.push(Attempt {
                            provider: provider.name().to_string(),
                            model: Some(response.model.clone()),
                            outcome: AttemptOutcome::Ok,
                            latency_ms,
                            message: format!(
                                "ok: {} input / {} output tokens",
                                response.usage.input_tokens, response.usage.output_tokens
                            ),
                        });
                        return (Ok(response), attempts);
                    }
                    Err(error) => error,
                };
                attempts.push(Attempt {
                    provider: provider.name().to_string(),
                    model: req.model.clone(),
                    outcome: AttemptOutcome::of(&error),
                    latency_ms,
                    message: error.to_string(),
                });
                match &error {
                    ProviderError::Config { .. } => return (Err(error), attempts),
                    ProviderError::Transient { retry_after, .. } if retries < self.max_retries => {
                        let wait = self.wait(retries, *retry_after);
                        progress(Progress::Note(format!(
                            "{error}; retry {} of {} in {} ms",
                            retries + 1,
                            self.max_retries,
                            wait.as_millis()
                        )));
                        (self.sleeper)(wait);
                    }
                    ProviderError::Transient { .. } | ProviderError::Permanent { .. } => {
                        if let Some(next) = next {
                            progress(Progress::Note(format!("{error}; falling back to {next}")));
                        }
                        last_error = Some(error);
                        break;
                    }
                }
            }
        }
        let error = last_error.unwrap_or_else(|| ProviderError::Config {
            provider: "chain".to_string(),
            message: "no providers configured".to_string(),
            hint: "give the role at least one provider spec, e.g. scripted:PATH".to_string(),
        });
        (Err(error), attempts)
    }

    /// The wait before retry number `retries + 1`: the server's `retry_after` if it gave one,
    /// else `base × 2^retries`, both capped. No jitter: loom's runs are single-client, and a
    /// deterministic schedule keeps logs and tests reproducible.
    fn wait(&self, retries: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = || {
            self.backoff_base
                .saturating_mul(1u32.checked_shl(retries).unwrap_or(u32::MAX))
        };
        retry_after.unwrap_or_else(backoff).min(self.sleep_cap)
    }
}
