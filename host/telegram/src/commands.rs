//! Messages: the reason a rejection waits for, and the commands `/status`, `/gates`, `/log`.
//! Only an allowed user in an allowed chat is listened to; in a group everyone else's
//! messages are ignored (a command from them is logged).

use crate::api::Message;
use crate::bot::Inner;
use crate::render::{self, Press};
use crate::{say, TRANSPORT};
use loom_engine::{Decision, Origin};

/// Ticks `/log` shows.
const LOG_TICKS: usize = 15;

impl Inner {
    pub(crate) async fn on_message(&self, m: &Message) {
        let (Some(from), Some(text)) = (&m.from, m.text.as_deref()) else {
            return;
        };
        let chat = m.chat.id;
        let Some(name) = self.allowed(chat, from.id) else {
            if text.starts_with('/') {
                say(&format!(
                    "ignored {} from user {} (@{}) in chat {chat}: not allow-listed",
                    text.split_whitespace().next().unwrap_or(""),
                    from.id,
                    from.username.as_deref().unwrap_or("-")
                ));
            }
            return;
        };
        let asking = self.state().asking(chat, from.id).cloned();
        if let Some(a) = asking {
            let replies = m.reply_to_message.as_ref().map(|r| r.message_id);
            if replies == Some(a.prompt_message_id) || !text.starts_with('/') {
                let press = Press {
                    approve: false,
                    run: a.run,
                    gate: a.gate,
                    hash_prefix: a.hash_prefix.clone(),
                };
                let mut d = Decision::new(
                    &a.gate.to_string(),
                    false,
                    Some(text.trim()),
                    Origin::human(name.clone(), TRANSPORT),
                );
                d.shown_hash = Some(a.hash_prefix.clone());
                let decided = self.handle.decide(d).await;
                let failed = decided
                    .as_ref()
                    .err()
                    .filter(|e| e.kind != loom_engine::ErrorKind::Conflict)
                    .map(|e| e.message.clone());
                let stale = self
                    .after_decision(decided, &press, &name, None, None)
                    .await;
                if let Some(why) = stale {
                    let t = format!("Not recorded: {why}.");
                    self.reply(chat, &render::escape(&t)).await;
                }
                match failed {
                    // Not recorded for a reason that may pass (busy): ask again later.
                    Some(why) => {
                        let t = format!("Not recorded: {why}");
                        self.reply(chat, &render::escape(&t)).await;
                    }
                    None => self.update_state(|s| s.answered(chat, from.id)),
                }
                return;
            }
        }
        let command = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .split('@')
            .next()
            .unwrap_or("");
        match command {
            "/status" => {
                let t = self.status_text();
                self.reply(chat, &render::plain(&t)).await;
            }
            "/gates" => self.gates_to(chat).await,
            "/log" => {
                let t = self.log_text();
                self.reply(chat, &render::plain(&t)).await;
            }
            "/start" | "/help" => {
                let t = "loom posts gates waiting for a person here, with Approve / Reject \
                         buttons. /status: the open task and its run. /gates: the waiting \
                         gates again. /log: the run's last ticks.";
                self.reply(chat, t).await;
            }
            _ => {}
        }
    }

    async fn reply(&self, chat: i64, html: &str) {
        if let Err(e) = self.send(chat, html, None).await {
            say(&format!("cannot reply in chat {chat}: {e}"));
        }
    }

    fn status_text(&self) -> String {
        let s = match self.handle.reader().status() {
            Ok(s) => s,
            Err(e) => return format!("cannot read the status: {e}"),
        };
        let mut out = match &s.task {
            Some(t) => format!("Task #{}: {}\n", t.id, t.title),
            None => "No task is open.\n".to_owned(),
        };
        if let Some(r) = &s.run {
            out.push_str(&format!("Run #{}: {} ({})\n", r.id, r.status, r.phase));
            if let Some(why) = &r.stop_reason {
                out.push_str(&format!("  {why}\n"));
            }
        }
        for g in &s.pending_gates {
            out.push_str(&format!(
                "Waiting: gate {} for {}\n",
                g.name,
                g.decider.with_article()
            ));
        }
        for l in &s.uncertain {
            out.push_str(&format!("Uncertain effect: {} ({})\n", l.key, l.step));
        }
        for v in &s.violations {
            out.push_str(&format!(
                "Violation of {} (tick {}): {}\n",
                v.rule, v.seq, v.message
            ));
        }
        if let Some(d) = &s.driver {
            out.push_str(&format!("Driven by pid {} via {}\n", d.pid, d.transport));
        }
        out
    }

    fn log_text(&self) -> String {
        let log = match self.handle.reader().log(None) {
            Ok(l) => l,
            Err(e) => return e.to_string(),
        };
        let skip = log.len().saturating_sub(LOG_TICKS);
        let mut out = String::new();
        for e in &log[skip..] {
            let t = &e.tick;
            out.push_str(&format!(
                "#{} {} {}: {}\n",
                t.seq,
                t.kind.as_str(),
                t.step.as_deref().unwrap_or("-"),
                t.summary
            ));
        }
        if out.is_empty() {
            out.push_str("No ticks yet.");
        }
        out
    }

    /// Every waiting human gate again, with its buttons, to `chat`.
    async fn gates_to(&self, chat: i64) {
        let gates = self.human_gates();
        if gates.is_empty() {
            return self.reply(chat, "No gate is waiting for a person.").await;
        }
        for g in gates {
            self.send_gate(&g, chat).await;
        }
    }
}
