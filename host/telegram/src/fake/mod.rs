//! A loopback Bot API for tests: the path `/bot<token>/<method>`, JSON and form-encoded
//! bodies (nested values as JSON strings in a form, numbers as strings), the `{"ok": …}`
//! envelope with the HTTP status Telegram uses, long polls held until `timeout` or an update,
//! `offset` confirming earlier updates, "message is not modified", group migration, and
//! faults a test queues (429 with `retry_after`, 409) or calls it holds unanswered.
//! Shapes follow what Telegram sends (see the e2e suite's protocol notes); std only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken fake should fail its test loudly

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    /// Parameters, with numbers and nested objects decoded the way Telegram reads them.
    pub params: Value,
    /// Whether they came form-encoded (else JSON or none).
    pub form: bool,
    pub at: Instant,
}

#[derive(Default)]
pub(super) struct St {
    updates: Vec<Value>,
    next_update_id: i64,
    confirmed: i64,
    pub(super) calls: Vec<Call>,
    faults: Vec<(String, u16, Value)>,
    pub(super) hang: Vec<String>,
    messages: BTreeMap<(i64, i64), (String, bool)>,
    next_message_id: i64,
    migrated: BTreeMap<i64, i64>,
}

pub(super) struct Shared {
    pub(super) st: Mutex<St>,
    pub(super) cv: Condvar,
    pub(super) stop: AtomicBool,
    pub(super) token: String,
}

pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

mod wire;
use wire::serve;

pub(super) const NUMERIC: &[&str] = &["chat_id", "message_id", "offset", "timeout", "limit"];
pub(super) const NESTED: &[&str] = &["reply_markup", "allowed_updates", "reply_parameters"];

impl FakeTelegram {
    pub fn start(token: &str) -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            st: Mutex::new(St {
                next_update_id: 100_000_001,
                next_message_id: 1,
                ..St::default()
            }),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
            token: token.to_owned(),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(conn, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeTelegram { addr, shared }
    }

    /// What `api_base` is set to.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues an update (its `update_id` is assigned here) and wakes a waiting poll.
    pub fn push(&self, mut update: Value) -> i64 {
        let mut st = self.shared.st.lock().unwrap();
        let id = st.next_update_id;
        st.next_update_id += 1;
        update["update_id"] = json!(id);
        st.updates.push(update);
        self.shared.cv.notify_all();
        id
    }

    /// A press of the button with `data` on message `message_id` in `chat`, by `user`.
    pub fn press(&self, chat: i64, user: i64, message_id: i64, data: &str) -> i64 {
        let text = self
            .text_of(chat, message_id)
            .map(|t| t.0)
            .unwrap_or_default();
        self.push(json!({"callback_query": {
            "id": format!("cq{}{}", user, message_id),
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("u{user}"),
                     "language_code": "en"},
            "message": {"message_id": message_id,
                        "from": {"id": 123456, "is_bot": true, "first_name": "LoomBot",
                                 "username": "loom_test_bot"},
                        "chat": chat_json(chat), "date": 1764000000, "text": text},
            "chat_instance": "-1234567890123456789", "data": data}}))
    }

    /// A text message by `user` in `chat`, replying to `reply_to` when given.
    pub fn say(&self, chat: i64, user: i64, text: &str, reply_to: Option<i64>) -> i64 {
        let mut m = json!({"message_id": 9000 + self.shared.st.lock().unwrap().next_update_id,
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("u{user}")},
            "chat": chat_json(chat), "date": 1764000001, "text": text});
        if let Some(r) = reply_to {
            m["reply_to_message"] = json!({"message_id": r, "chat": chat_json(chat),
                                           "date": 1764000000, "text": "…"});
        }
        self.push(json!({ "message": m }))
    }

    /// Every call of `method` so far.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        let st = self.shared.st.lock().unwrap();
        st.calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The first call of `method` for which `pred` holds, waiting up to `deadline`.
    pub fn wait_call(
        &self,
        method: &str,
        deadline: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Call> {
        let until = Instant::now() + deadline;
        let mut st = self.shared.st.lock().unwrap();
        loop {
            if let Some(c) = st
                .calls
                .iter()
                .find(|c| c.method == method && pred(&c.params))
            {
                return Some(c.clone());
            }
            let left = until.checked_duration_since(Instant::now())?;
            st = self.shared.cv.wait_timeout(st, left).unwrap().0;
        }
    }

    /// The next call of `method` answers `status` with `body`.
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        let mut st = self.shared.st.lock().unwrap();
        st.faults.push((method.to_owned(), status, body));
        self.shared.cv.notify_all();
    }

    /// Calls of `method` from now on are recorded and never answered.
    pub fn hang(&self, method: &str) {
        self.shared.st.lock().unwrap().hang.push(method.to_owned());
    }

    pub fn unhang(&self) {
        self.shared.st.lock().unwrap().hang.clear();
        self.shared.cv.notify_all();
    }

    /// `old` became the supergroup `new`: sending to `old` is refused with its new id.
    pub fn migrate_chat(&self, old: i64, new: i64) {
        self.shared.st.lock().unwrap().migrated.insert(old, new);
    }

    /// The offset the bot confirmed (every update below it is gone).
    pub fn confirmed(&self) -> i64 {
        self.shared.st.lock().unwrap().confirmed
    }

    /// A message's text now, and whether it still has a keyboard.
    pub fn text_of(&self, chat: i64, message_id: i64) -> Option<(String, bool)> {
        let st = self.shared.st.lock().unwrap();
        st.messages.get(&(chat, message_id)).cloned()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cv.notify_all();
    }
}

fn chat_json(chat: i64) -> Value {
    if chat < 0 {
        json!({"id": chat, "title": "loom reviewers", "type": "supergroup"})
    } else {
        json!({"id": chat, "first_name": "Ada", "username": "ada", "type": "private"})
    }
}

fn bot_message(st: &mut St, chat: i64, text: &str, markup: Option<&Value>) -> Value {
    let id = st.next_message_id;
    st.next_message_id += 1;
    let keyboard = markup.is_some_and(|m| m.get("inline_keyboard").is_some());
    st.messages.insert((chat, id), (text.to_owned(), keyboard));
    let mut m = json!({"message_id": id,
        "from": {"id": 123456, "is_bot": true, "first_name": "LoomBot", "username": "loom_test_bot"},
        "chat": chat_json(chat), "date": 1764000000, "text": text});
    if let Some(k) = markup {
        m["reply_markup"] = k.clone();
    }
    m
}

pub(super) fn error(code: u16, description: &str) -> (u16, Value) {
    (
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

/// What Telegram answers `method` with `p`.
pub(super) fn answer(s: &Shared, method: &str, p: &Value) -> (u16, Value) {
    let mut st = s.st.lock().unwrap();
    if let Some(i) = st.faults.iter().position(|f| f.0 == method) {
        let (_, status, body) = st.faults.remove(i);
        return (status, body);
    }
    let ok = |r: Value| (200, json!({"ok": true, "result": r}));
    match method {
        "getMe" => ok(
            json!({"id": 123456, "is_bot": true, "first_name": "LoomBot",
                             "username": "loom_test_bot"}),
        ),
        "getUpdates" => {
            let offset = p["offset"].as_i64().unwrap_or(0);
            if offset > st.confirmed {
                st.confirmed = offset;
            }
            let confirmed = st.confirmed;
            st.updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= confirmed);
            let timeout = Duration::from_secs(p["timeout"].as_u64().unwrap_or(0).min(50));
            let until = Instant::now() + timeout;
            while st.updates.is_empty() && !s.stop.load(Ordering::SeqCst) {
                // A fault queued meanwhile ends the poll held open, as a second poller's
                // request ends the first one's with 409 on Telegram.
                if let Some(i) = st.faults.iter().position(|f| f.0 == method) {
                    let (_, status, body) = st.faults.remove(i);
                    return (status, body);
                }
                let Some(left) = until.checked_duration_since(Instant::now()) else {
                    break;
                };
                st = s.cv.wait_timeout(st, left).unwrap().0;
            }
            ok(Value::Array(st.updates.clone()))
        }
        "sendMessage" => {
            let Some(chat) = p["chat_id"].as_i64() else {
                return error(400, "Bad Request: chat_id is empty");
            };
            if let Some(new) = st.migrated.get(&chat) {
                return (
                    400,
                    json!({"ok": false, "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": new}}),
                );
            }
            let Some(text) = p["text"].as_str().filter(|t| !t.is_empty()) else {
                return error(400, "Bad Request: message text is empty");
            };
            if text.chars().count() > 4096 {
                return error(400, "Bad Request: message is too long");
            }
            let m = bot_message(&mut st, chat, text, p.get("reply_markup"));
            ok(m)
        }
        "editMessageText" => {
            let key = (
                p["chat_id"].as_i64().unwrap_or(0),
                p["message_id"].as_i64().unwrap_or(0),
            );
            let text = p["text"].as_str().unwrap_or("").to_owned();
            let keyboard = p
                .get("reply_markup")
                .is_some_and(|m| m.get("inline_keyboard").is_some());
            match st.messages.get(&key) {
                None => error(400, "Bad Request: message to edit not found"),
                Some((t, k)) if *t == text && *k == keyboard => error(
                    400,
                    "Bad Request: message is not modified: specified new message content and \
                     reply markup are exactly the same as a current content and reply markup \
                     of the message",
                ),
                Some(_) => {
                    st.messages.insert(key, (text.clone(), keyboard));
                    ok(
                        json!({"message_id": key.1, "chat": chat_json(key.0), "date": 1764000000,
                              "edit_date": 1764000100, "text": text}),
                    )
                }
            }
        }
        "answerCallbackQuery" => ok(json!(true)),
        _ => error(404, "Not Found"),
    }
}
