//! `loom-telegram`: a Telegram bot inside `loom serve`, on the server's own engine.
//!
//! A human gate reaches every allowed chat as a message with what its decider is shown and
//! Approve / Reject buttons; a press by an allowed user is that person's decision (a human,
//! via `telegram`), bound to the hash of what the message showed. It long-polls `getUpdates`
//! and confirms an update (the next poll's `offset`) only after its effect is committed, so a
//! restart in between sees the press again, finds the gate decided by that very press, and
//! records nothing twice. It also reports runs that finish, fail or stop, and answers
//! `/status`, `/gates` and `/log`. The bot failing never stops the engine or the dashboard:
//! it is a task beside them that logs and ends.

pub mod api;
mod bot;
mod commands;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod notify;
mod press;
pub mod render;
pub mod state;

pub use bot::Bot;

use loom_engine::TelegramConfig;
use std::collections::BTreeMap;
use std::io::Write;

/// The transport decisions from here are recorded with.
pub const TRANSPORT: &str = "telegram";

/// Why the bot cannot start, or why it stopped.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("[telegram] names token_env = \"{0}\", but that environment variable is not set (put the bot token from BotFather there)")]
    NoToken(String),
    #[error("[telegram] {0}")]
    Config(String),
    #[error("another process polls this bot's updates, or a webhook is set ({0}); the bot stopped. Stop the other poller (or call deleteWebhook) and restart loom serve")]
    Conflict(String),
    #[error("Telegram refused the bot token in ${0} ({1}); the bot stopped")]
    TokenRefused(String, String),
    #[error(transparent)]
    Api(#[from] api::ApiError),
}

/// The bot's settings, checked. Its `Debug` leaves the token out.
#[derive(Clone)]
pub struct Settings {
    pub token_env: String,
    pub token: String,
    pub chats: Vec<i64>,
    /// Telegram user id → the name decisions are recorded under.
    pub users: BTreeMap<i64, String>,
    pub api_base: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("token_env", &self.token_env)
            .field("token", &"<redacted>")
            .field("chats", &self.chats)
            .field("users", &self.users)
            .field("api_base", &self.api_base)
            .finish()
    }
}

impl Settings {
    /// Checks `[telegram]` and reads the token from its environment variable through `env`.
    pub fn from_config(
        c: &TelegramConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, TelegramError> {
        let token = env(&c.token_env)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TelegramError::NoToken(c.token_env.clone()))?;
        if c.chats.is_empty() {
            return Err(TelegramError::Config(
                "chats is empty: list the chat ids the bot may post to".into(),
            ));
        }
        let mut users = BTreeMap::new();
        for (id, name) in &c.users {
            let uid = id.trim().parse::<i64>().map_err(|_| {
                TelegramError::Config(format!(
                    "users: \"{id}\" is not a Telegram user id (a number, quoted as a TOML key)"
                ))
            })?;
            if name.trim().is_empty() {
                return Err(TelegramError::Config(format!(
                    "users.\"{id}\" has an empty name"
                )));
            }
            users.insert(uid, name.trim().to_owned());
        }
        if users.is_empty() {
            return Err(TelegramError::Config(
                "users is empty: map the Telegram user ids allowed to decide to their names".into(),
            ));
        }
        let base = c.api_base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TelegramError::Config(format!(
                "api_base \"{base}\" is not an http(s) URL"
            )));
        }
        Ok(Settings {
            token_env: c.token_env.clone(),
            token,
            chats: c.chats.clone(),
            users,
            api_base: base.to_owned(),
        })
    }
}

/// What `loom serve` finds in the project's config.
pub enum Setup {
    /// No `[telegram]` section.
    NotConfigured,
    /// Configured but unusable, and why (the server runs on without the bot).
    Unusable(TelegramError),
    Ready(Bot),
}

/// Reads `[telegram]` from the project at `handle`'s root and the token from the environment.
pub fn setup(handle: loom_service::EngineHandle) -> Setup {
    let root = handle.reader().root().to_path_buf();
    let config = match loom_engine::Config::load(&root) {
        Ok(c) => c,
        Err(e) => return Setup::Unusable(TelegramError::Config(e.to_string())),
    };
    let Some(t) = config.telegram else {
        return Setup::NotConfigured;
    };
    match Settings::from_config(&t, |k| std::env::var(k).ok()).and_then(|s| Bot::new(s, handle)) {
        Ok(bot) => Setup::Ready(bot),
        Err(e) => Setup::Unusable(e),
    }
}

/// A line on stderr; a closed stderr is no reason for the bot to fail.
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "telegram: {line}");
}

#[cfg(test)]
mod tests;
