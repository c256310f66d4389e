//! What the bot remembers across restarts, in `.loom/cache/telegram.json` (this machine's, and
//! ignored by git like the rest of `cache/`): which gate messages it
//! sent (so a restart does not send every pending gate again), which rejections wait for a
//! reason, and which groups moved to a supergroup. Only ids and hashes: no token, no text.
//!
//! It is a cache of the bot's own doings, not part of the record: losing it costs at most a
//! second message for a gate that is still pending. It is written after each change by a
//! rename, so a kill leaves the old file or the new one, never half of one.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Gate messages remembered; the oldest are forgotten first (their gates are long decided).
const SENT_MAX: usize = 512;
/// Rejections waiting for a reason.
const ASKING_MAX: usize = 64;

/// One gate message in one chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub run: u64,
    pub gate: u64,
    pub shown_hash: String,
    pub chat: i64,
    pub message_id: i64,
}

/// A Reject press whose reason the bot asked for and waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asking {
    pub chat: i64,
    pub user: i64,
    pub run: u64,
    pub gate: u64,
    pub hash_prefix: String,
    /// The prompt (a ForceReply message) the reason answers.
    pub prompt_message_id: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub sent: Vec<Sent>,
    #[serde(default)]
    pub asking: Vec<Asking>,
    /// (old chat id, new supergroup id).
    #[serde(default)]
    pub migrated: Vec<(i64, i64)>,
}

pub fn path(root: &Path) -> PathBuf {
    root.join(".loom").join("cache").join("telegram.json")
}

impl State {
    /// The remembered state; an unreadable file counts as none (with the reason), since the
    /// worst that costs is sending pending gates once more.
    pub fn load(root: &Path) -> (State, Option<String>) {
        let p = path(root);
        match std::fs::read(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (State::default(), None),
            Err(e) => (
                State::default(),
                Some(format!("cannot read {}: {e}", p.display())),
            ),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(s) => (s, None),
                Err(e) => (
                    State::default(),
                    Some(format!("{} is damaged ({e}); starting afresh", p.display())),
                ),
            },
        }
    }

    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        let p = path(root);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = p.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &p)
    }

    pub fn was_sent(&self, run: u64, gate: u64, shown_hash: &str, chat: i64) -> bool {
        self.sent
            .iter()
            .any(|s| s.run == run && s.gate == gate && s.shown_hash == shown_hash && s.chat == chat)
    }

    pub fn remember_sent(&mut self, s: Sent) {
        self.sent.push(s);
        let over = self.sent.len().saturating_sub(SENT_MAX);
        self.sent.drain(..over);
    }

    /// Every message sent for the gate, in any chat.
    pub fn messages_of(&self, run: u64, gate: u64) -> Vec<(i64, i64)> {
        self.sent
            .iter()
            .filter(|s| s.run == run && s.gate == gate)
            .map(|s| (s.chat, s.message_id))
            .collect()
    }

    pub fn ask(&mut self, a: Asking) {
        self.asking
            .retain(|o| !(o.chat == a.chat && o.user == a.user));
        self.asking.push(a);
        let over = self.asking.len().saturating_sub(ASKING_MAX);
        self.asking.drain(..over);
    }

    pub fn asking(&self, chat: i64, user: i64) -> Option<&Asking> {
        self.asking
            .iter()
            .find(|a| a.chat == chat && a.user == user)
    }

    pub fn answered(&mut self, chat: i64, user: i64) {
        self.asking.retain(|a| !(a.chat == chat && a.user == user));
    }

    /// Where a chat lives now.
    pub fn current_chat(&self, chat: i64) -> i64 {
        self.migrated
            .iter()
            .find(|(old, _)| *old == chat)
            .map_or(chat, |(_, new)| *new)
    }

    pub fn migrate(&mut self, old: i64, new: i64) {
        if old != new && !self.migrated.contains(&(old, new)) {
            self.migrated.push((old, new));
        }
    }
}
