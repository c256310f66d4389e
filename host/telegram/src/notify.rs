//! Following the event bus: a human gate that opens goes to every allowed chat (once; what
//! was sent is remembered), a gate decided elsewhere has its messages edited to say so, and a
//! run that finishes, fails or stops is reported with why.

use crate::bot::Inner;
use crate::render;
use crate::state::Sent;
use crate::{say, TRANSPORT};
use loom_kernel::{Gate, RunStatus};
use loom_service::Event;
use tokio::sync::broadcast::error::RecvError;

impl Inner {
    pub(crate) async fn follow_events(&self) {
        // Subscribed before the first look, so a gate opening in between is not missed.
        let mut rx = self.handle.subscribe();
        self.sync_gates().await;
        loop {
            match rx.recv().await {
                Ok(Event::GateOpened { .. }) => self.sync_gates().await,
                // Presses here edit their own messages; anyone else's decision is said here.
                Ok(Event::GateDecided {
                    run,
                    gate,
                    transport,
                    ..
                }) if transport != TRANSPORT => self.show_decided(run, gate, None).await,
                Ok(Event::RunStatusChanged {
                    run,
                    status,
                    reason,
                }) => self.notify_status(run, status, reason.as_deref()).await,
                Ok(_) => {}
                // Fell behind: the database is the truth, and gates are all this must not miss.
                Err(RecvError::Lagged(_)) => self.sync_gates().await,
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn task_title(&self) -> Option<String> {
        self.handle
            .reader()
            .status()
            .ok()
            .and_then(|s| s.task.map(|t| t.title))
    }

    /// Sends every pending human gate to every allowed chat that has not had it yet.
    async fn sync_gates(&self) {
        for g in self.human_gates() {
            for &chat in &self.settings.chats {
                let to = self.state().current_chat(chat);
                if !self.state().was_sent(g.run_id, g.id, &g.shown_hash, to) {
                    self.send_gate(&g, chat).await;
                }
            }
        }
    }

    /// Sends one gate with its buttons and remembers it.
    pub(crate) async fn send_gate(&self, g: &Gate, chat: i64) {
        let text = render::gate_message(g, self.task_title().as_deref());
        match self.send(chat, &text, Some(render::keyboard(g))).await {
            Ok((to, m)) => self.update_state(|s| {
                s.remember_sent(Sent {
                    run: g.run_id,
                    gate: g.id,
                    shown_hash: g.shown_hash.clone(),
                    chat: to,
                    message_id: m.message_id,
                })
            }),
            Err(e) => say(&format!("cannot send gate {} to chat {chat}: {e}", g.name)),
        }
    }

    /// Edits every message of a decided gate (and `pressed`, if it is not among them) to say
    /// who decided and where the run is now; the keyboard goes.
    pub(crate) async fn show_decided(
        &self,
        run: u64,
        gate: u64,
        pressed: Option<&crate::api::Message>,
    ) {
        let g = match self.gate(run, gate) {
            Ok(Some(g)) => g,
            Ok(None) => return,
            Err(e) => return say(&e),
        };
        let status = self.handle.reader().status().ok();
        let run_state = status
            .as_ref()
            .and_then(|s| s.run.as_ref())
            .filter(|r| r.id == run)
            .map_or_else(|| "unknown".to_owned(), |r| r.status.to_string());
        let task = status.and_then(|s| s.task.map(|t| t.title));
        let text = render::decided_message(&g, task.as_deref(), &run_state);
        let mut messages = self.state().messages_of(run, gate);
        if let Some(m) = pressed {
            if !messages.contains(&(m.chat.id, m.message_id)) {
                messages.push((m.chat.id, m.message_id));
            }
        }
        for (chat, id) in messages {
            self.edit(chat, id, &text).await;
        }
    }

    async fn notify_status(&self, run: u64, status: RunStatus, reason: Option<&str>) {
        let what = match status {
            RunStatus::Done => "✅ finished",
            RunStatus::Failed => "❌ failed",
            RunStatus::Stopped => "⏸ stopped",
            RunStatus::Abandoned => "abandoned",
            RunStatus::Running | RunStatus::Waiting => return,
        };
        let mut text = format!("<b>Run #{run} {what}</b>");
        if let Some(t) = self.task_title() {
            text.push_str(&format!("\nTask: <i>{}</i>", render::escape(&t)));
        }
        if let Some(r) = reason.filter(|r| !r.is_empty()) {
            text.push_str(&format!("\n{}", render::escape_cut(r, 3000)));
        }
        if status == RunStatus::Stopped {
            text.push_str(
                "\nLook with <code>loom status</code>; go on with <code>loom resume</code>.",
            );
        }
        for &chat in &self.settings.chats {
            if let Err(e) = self.send(chat, &text, None).await {
                say(&format!("cannot report run #{run} to chat {chat}: {e}"));
            }
        }
    }
}
