//! Button presses and what they come to.
//!
//! Exactly-once: a press seen again after a restart (its update was not confirmed yet) finds
//! its gate already decided by the same person via `telegram` with the same verdict, and is
//! answered as done; nothing is recorded twice. A press on a gate decided by anyone else, or
//! reopened with other content, decides nothing and says so.

use crate::api::{CallbackQuery, Message};
use crate::bot::{retrying, Inner};
use crate::render::{self, Press};
use crate::state::Asking;
use crate::{say, TRANSPORT};
use loom_engine::{Decision, ErrorKind, Origin};
use loom_kernel::{Gate, GateStatus};

/// Why a press decides what it does.
enum Judged {
    Decide,
    /// The gate was decided by this very press (seen again after a restart).
    AlreadyThisPress,
    Stale(String),
}

fn judge(gate: Option<&Gate>, press: &Press, name: &str) -> Judged {
    let Some(g) = gate else {
        return Judged::Stale(
            "its run is no longer the current one (it ended, or another task is open)".into(),
        );
    };
    match g.status {
        GateStatus::Pending if g.shown_hash.starts_with(&press.hash_prefix) => Judged::Decide,
        GateStatus::Pending => Judged::Stale(
            "the gate now shows other content than this message; decide on the newer message"
                .into(),
        ),
        status => {
            let by = g.decided_by.as_deref().unwrap_or("?");
            let via = g.transport.as_deref().unwrap_or("?");
            let same_verdict = (status == GateStatus::Approved) == press.approve;
            if by == name && via == TRANSPORT && same_verdict {
                Judged::AlreadyThisPress
            } else {
                Judged::Stale(format!("the gate was already {status} by {by} via {via}"))
            }
        }
    }
}

impl Inner {
    /// Answers a press; a failure to answer is logged (the decision, if any, stands).
    async fn answer(&self, id: &str, text: &str, alert: bool) {
        let text = render::answer_text(text);
        if let Err(e) = retrying(|| self.api.answer_callback_query(id, &text, alert)).await {
            say(&format!("cannot answer a button press: {e}"));
        }
    }

    pub(crate) async fn on_press(&self, q: &CallbackQuery) {
        let Some(msg) = &q.message else {
            return self.answer(&q.id, "This button is too old.", true).await;
        };
        let chat = msg.chat.id;
        let Some(name) = self.allowed(chat, q.from.id) else {
            say(&format!(
                "refused a button press by user {} (@{}) in chat {chat}: not allow-listed; \
                 nothing was recorded",
                q.from.id,
                q.from.username.as_deref().unwrap_or("-")
            ));
            return self
                .answer(
                    &q.id,
                    "Sorry, you are not allowed to decide loom gates here. Nothing was recorded.",
                    true,
                )
                .await;
        };
        let Some(press) = q.data.as_deref().and_then(Press::parse) else {
            return self.answer(&q.id, "This button is not loom's.", true).await;
        };
        let gate = match self.gate(press.run, press.gate) {
            Ok(g) => g,
            Err(e) => return self.answer(&q.id, &e, true).await,
        };
        match judge(gate.as_ref(), &press, &name) {
            Judged::Decide if !press.approve => self.ask_reason(q, msg, &press, &name).await,
            Judged::Decide => {
                let mut d = Decision::new(
                    &press.gate.to_string(),
                    true,
                    None,
                    Origin::human(name.clone(), TRANSPORT),
                );
                d.shown_hash = Some(press.hash_prefix.clone());
                let decided = self.handle.decide(d).await;
                // Said on the button and the message already.
                let _stale = self
                    .after_decision(decided, &press, &name, Some(&q.id), Some(msg))
                    .await;
            }
            Judged::AlreadyThisPress => {
                self.answer(&q.id, "Already recorded.", false).await;
                self.show_decided(press.run, press.gate, Some(msg)).await;
            }
            Judged::Stale(why) => {
                self.answer(&q.id, &format!("Stale: {why}. Nothing was decided."), true)
                    .await;
                self.edit_stale(msg, gate.as_ref(), &press, &why).await;
            }
        }
    }

    /// What a decision came to, said on the button (if pressed) and the gate's messages;
    /// answers why it went stale, if it did (for a reason given by reply, to say in the chat).
    pub(crate) async fn after_decision(
        &self,
        decided: loom_service::Result<u64>,
        press: &Press,
        name: &str,
        query: Option<&str>,
        msg: Option<&Message>,
    ) -> Option<String> {
        let verdict = if press.approve {
            "Approved"
        } else {
            "Rejected"
        };
        let outcome = match decided {
            Ok(_) => Judged::AlreadyThisPress,
            // Decided meanwhile: by this press before a restart, or by someone else.
            Err(e) if e.kind == ErrorKind::Conflict => match self.gate(press.run, press.gate) {
                Ok(g) => judge(g.as_ref(), press, name),
                Err(e) => Judged::Stale(e),
            },
            Err(e) => {
                say(&format!("a decision by {name} failed: {e}"));
                if let Some(q) = query {
                    self.answer(q, &format!("Not recorded: {}", e.message), true)
                        .await;
                }
                return None;
            }
        };
        match outcome {
            Judged::Stale(why) => {
                if let Some(q) = query {
                    self.answer(q, &format!("Stale: {why}. Nothing was decided."), true)
                        .await;
                }
                if let Some(m) = msg {
                    let gate = self.gate(press.run, press.gate).ok().flatten();
                    self.edit_stale(m, gate.as_ref(), press, &why).await;
                }
                Some(why)
            }
            _ => {
                if let Some(q) = query {
                    self.answer(q, &format!("{verdict}, as {name}."), false)
                        .await;
                }
                self.show_decided(press.run, press.gate, msg).await;
                None
            }
        }
    }

    async fn ask_reason(&self, q: &CallbackQuery, msg: &Message, press: &Press, name: &str) {
        let (chat, user) = (msg.chat.id, q.from.id);
        let waiting = self
            .state()
            .asking(chat, user)
            .is_some_and(|a| a.run == press.run && a.gate == press.gate);
        if !waiting {
            let text = format!(
                "<a href=\"tg://user?id={user}\">{}</a>, why reject this gate (run #{})? \
                 Reply to this message with the reason; the agents read it.",
                render::escape(name),
                press.run
            );
            let markup = serde_json::json!({"force_reply": true, "selective": true,
                                            "input_field_placeholder": "the reason"});
            match self.send(chat, &text, Some(markup)).await {
                Ok((chat, prompt)) => self.update_state(|s| {
                    s.ask(Asking {
                        chat,
                        user,
                        run: press.run,
                        gate: press.gate,
                        hash_prefix: press.hash_prefix.clone(),
                        prompt_message_id: prompt.message_id,
                    })
                }),
                Err(e) => {
                    say(&format!("cannot ask for a reason: {e}"));
                    return self
                        .answer(&q.id, "Could not ask for the reason; try again.", true)
                        .await;
                }
            }
        }
        self.answer(&q.id, "Reply with the reason to reject.", false)
            .await;
    }
}
