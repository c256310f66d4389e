//! The bot's life: long polling, the retry policy of every call, sending and editing.
//!
//! An update is confirmed to Telegram (the next poll's `offset`) only after what it did is
//! committed, so a restart in between sees it again (see `press.rs` for why that records
//! nothing twice).

use crate::api::{Api, ApiError, Message, Update};
use crate::render::{self, Press};
use crate::state::State;
use crate::{say, Settings, TelegramError};
use loom_kernel::{Decider, Gate};
use loom_service::EngineHandle;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Seconds Telegram holds a poll open when there is nothing new.
pub const POLL_TIMEOUT_S: u64 = 25;
/// Tries of one call through flood control and network trouble before giving up on it.
const ATTEMPTS_MAX: u32 = 6;
/// Longest wait flood control is obeyed with; beyond it the call is given up (and retried by
/// whatever caused it, e.g. the next event), rather than stalling the bot for hours.
const RETRY_AFTER_MAX_S: u64 = 300;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The bot, ready to run beside the server.
pub struct Bot {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) api: Api,
    pub(crate) settings: Settings,
    pub(crate) handle: EngineHandle,
    pub(crate) root: PathBuf,
    state: Mutex<State>,
}

impl Bot {
    pub fn new(settings: Settings, handle: EngineHandle) -> Result<Bot, TelegramError> {
        let root = handle.reader().root().to_path_buf();
        let (state, warning) = State::load(&root);
        if let Some(w) = warning {
            say(&w);
        }
        Ok(Bot {
            inner: Arc::new(Inner {
                api: Api::new(&settings.api_base, &settings.token)?,
                settings,
                handle,
                root,
                state: Mutex::new(state),
            }),
        })
    }

    /// One line for the server's banner (never the token).
    pub fn describe(&self) -> String {
        let s = &self.inner.settings;
        format!(
            "bot polling {} (token from ${}), posting to {} chat(s); {} user(s) may decide",
            s.api_base,
            s.token_env,
            s.chats.len(),
            s.users.len()
        )
    }

    /// Polls and posts until `stop` turns true, or until Telegram says another poller holds
    /// the token (409) or refuses it: those end the bot, not the server.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), TelegramError> {
        let stopped = async move {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    // The server dropped its end: it is going away.
                    break;
                }
            }
        };
        let inner = self.inner.clone();
        tokio::select! {
            r = self.inner.poll() => r,
            () = inner.follow_events() => Ok(()),
            () = stopped => Ok(()),
        }
    }
}

/// A pause that doubles up to [`BACKOFF_MAX`], each one drawn at random from its upper half
/// so that many clients cut off together do not come back together.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_MIN)
    }

    fn next(&mut self) -> Duration {
        use std::hash::{BuildHasher, Hasher};
        // A random number without a crate: std seeds each RandomState afresh.
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let ms = self.0.as_millis() as u64;
        let d = Duration::from_millis(ms / 2 + r % (ms / 2 + 1));
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        d
    }
}

/// Runs `call` until it succeeds or fails for a reason waiting does not cure: flood control is
/// waited out for the `retry_after` Telegram names, network trouble with a jittered backoff.
pub(crate) async fn retrying<T, F, Fut>(mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut backoff = Backoff::new();
    let mut attempt = 1;
    loop {
        let r = call().await;
        if attempt >= ATTEMPTS_MAX {
            return r;
        }
        attempt += 1;
        match r {
            Err(ApiError::Flood { retry_after_s }) if retry_after_s <= RETRY_AFTER_MAX_S => {
                tokio::time::sleep(Duration::from_secs(retry_after_s)).await;
            }
            Err(e) if e.is_transient() => tokio::time::sleep(backoff.next()).await,
            r => return r,
        }
    }
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding it leaves plain data; go on with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the remembered state and writes it (a failed write is said and survived: the
    /// worst it costs is a message sent twice).
    pub(crate) fn update_state(&self, change: impl FnOnce(&mut State)) {
        let mut s = self.state();
        change(&mut s);
        if let Err(e) = s.save(&self.root) {
            say(&format!(
                "cannot write {}: {e}",
                crate::state::path(&self.root).display()
            ));
        }
    }

    /// The name an allowed user in an allowed chat decides under; `None` for anyone else.
    pub(crate) fn allowed(&self, chat: i64, user: i64) -> Option<String> {
        let chats = &self.settings.chats;
        let chat_ok = chats.contains(&chat)
            || self
                .state()
                .migrated
                .iter()
                .any(|(old, new)| *new == chat && chats.contains(old));
        chat_ok
            .then(|| self.settings.users.get(&user).cloned())
            .flatten()
    }

    async fn poll(&self) -> Result<(), TelegramError> {
        let mut offset = None;
        let mut backoff = Backoff::new();
        loop {
            match self.api.get_updates(offset, POLL_TIMEOUT_S).await {
                Ok(updates) => {
                    backoff = Backoff::new();
                    for u in updates {
                        self.on_update(&u).await;
                        // Confirmed by the next poll, now that its effect is committed.
                        offset = Some(u.update_id + 1);
                    }
                }
                Err(ApiError::Flood { retry_after_s }) => {
                    tokio::time::sleep(Duration::from_secs(retry_after_s)).await;
                }
                Err(ApiError::Conflict(d)) => return Err(TelegramError::Conflict(d)),
                Err(ApiError::Refused {
                    code: code @ (401 | 404),
                    description,
                    ..
                }) => {
                    return Err(TelegramError::TokenRefused(
                        self.settings.token_env.clone(),
                        format!("{code} {description}"),
                    ))
                }
                Err(e) => {
                    let wait = backoff.next();
                    say(&format!("{e}; polling again in {} ms", wait.as_millis()));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn on_update(&self, u: &Update) {
        if let Some(q) = &u.callback_query {
            self.on_press(q).await;
        } else if let Some(m) = &u.message {
            if let Some(to) = m.migrate_to_chat_id {
                if self.allowed_chat(m.chat.id) {
                    say(&format!("chat {} became supergroup {to}", m.chat.id));
                    self.update_state(|s| s.migrate(m.chat.id, to));
                }
                return;
            }
            self.on_message(m).await;
        }
    }

    fn allowed_chat(&self, chat: i64) -> bool {
        self.settings.chats.contains(&chat)
    }

    /// The gate `id` of `run` if `run` is the current run.
    pub(crate) fn gate(&self, run: u64, id: u64) -> Result<Option<Gate>, String> {
        let gates = self
            .handle
            .reader()
            .gates(true)
            .map_err(|e| format!("cannot read the gates: {e}"))?;
        Ok(gates.into_iter().find(|g| g.run_id == run && g.id == id))
    }

    /// Pending gates a human decides.
    pub(crate) fn human_gates(&self) -> Vec<Gate> {
        match self.handle.reader().gates(false) {
            Ok(g) => g
                .into_iter()
                .filter(|g| g.decider == Decider::Human)
                .collect(),
            Err(e) => {
                say(&format!("cannot read the gates: {e}"));
                Vec::new()
            }
        }
    }

    /// Sends to `chat` (or where it moved), following a migration to a supergroup; answers
    /// with the chat it went to.
    pub(crate) async fn send(
        &self,
        chat: i64,
        text: &str,
        markup: Option<serde_json::Value>,
    ) -> Result<(i64, Message), ApiError> {
        let mut to = self.state().current_chat(chat);
        let mut moves = 0;
        loop {
            let m = markup.clone();
            match retrying(|| self.api.send_message(to, text, m.clone(), None)).await {
                Err(ApiError::Migrated { to: new }) if moves < 2 => {
                    say(&format!("chat {to} became supergroup {new}; following it"));
                    self.update_state(|s| s.migrate(to, new));
                    to = new;
                    moves += 1;
                }
                r => return r.map(|m| (to, m)),
            }
        }
    }

    pub(crate) async fn edit(&self, chat: i64, message_id: i64, text: &str) {
        if let Err(e) = retrying(|| self.api.edit_message_text(chat, message_id, text)).await {
            say(&format!(
                "cannot edit message {message_id} in chat {chat}: {e}"
            ));
        }
    }

    pub(crate) async fn edit_stale(
        &self,
        msg: &Message,
        gate: Option<&Gate>,
        press: &Press,
        why: &str,
    ) {
        let name = gate.map_or_else(|| format!("#{}", press.gate), |g| g.name.clone());
        let text = render::stale_message(&name, press.run, why);
        self.edit(msg.chat.id, msg.message_id, &text).await;
    }
}
