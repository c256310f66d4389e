//! The Telegram bot inside a real `loom serve`, against a loopback Bot API
//! (`loom_telegram::fake`) that speaks Telegram's wire formats: a gate reaches the chat with
//! buttons, an allowed user's press is their decision, anyone else's changes nothing, a
//! reason comes from a reply, a stale button decides nothing, flood control and a 409 are
//! survived, and a kill between a press and its confirmation records the decision once.

use crate::common::*;
use loom_telegram::fake::FakeTelegram;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "7000001:AAtestTOKENnotREAL";
const CHAT: i64 = 42;
const ANN: i64 = 42;
const EVE: i64 = 666;
const TITLE: &str = "Fix median() for lists of even length";

fn demo_project(fake: &FakeTelegram) -> (tempfile::TempDir, PathBuf) {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let telegram = format!(
        "[telegram]\ntoken_env = \"LOOM_TEST_TG_TOKEN\"\nchats = [{CHAT}]\n\
         users = {{ \"{ANN}\" = \"ann\" }}\napi_base = \"{}\"\n",
        fake.base()
    );
    project(&config("supervised", &telegram), &replies)
}

/// A `loom serve` with the bot token in its environment; killed when dropped.
struct Served {
    child: Child,
    addr: String,
    out: mpsc::Receiver<String>,
}

impl Served {
    fn start(dir: &Path) -> Served {
        Served::start_with(dir, Some(TOKEN))
    }

    fn start_with(dir: &Path, token: Option<&str>) -> Served {
        let mut cmd = Command::new(LOOM);
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .current_dir(dir)
            .env("USER", "tester")
            .env_remove("LOOM_TEST_TG_TOKEN");
        if let Some(t) = token {
            cmd.env("LOOM_TEST_TG_TOKEN", t);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, out) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let mut s = Served {
            child,
            addr: String::new(),
            out,
        };
        let start = Instant::now();
        loop {
            let v = std::fs::read_to_string(dir.join(".loom/serve.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            if let Some(v) = v.filter(|v| v["pid"] == s.child.id()) {
                s.addr = v["addr"].as_str().unwrap().to_owned();
                return s;
            }
            assert!(start.elapsed() < WAIT, "loom serve never wrote serve.json");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first line it prints that holds `needle` (everything it printed if none does).
    fn line(&self, needle: &str) -> String {
        let start = Instant::now();
        let mut seen = String::new();
        while let Ok(l) = self.out.recv_timeout(WAIT.saturating_sub(start.elapsed())) {
            if l.contains(needle) {
                return l;
            }
            seen.push_str(&l);
            seen.push('\n');
        }
        panic!("loom serve never said {needle:?}; it said:\n{seen}");
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gate message with buttons for `gate` (its id and its callback data).
fn gate_message(fake: &FakeTelegram, nth: usize) -> (i64, Vec<String>) {
    let sent_gate = |p: &Value| p["reply_markup"]["inline_keyboard"].is_array();
    let start = Instant::now();
    loop {
        let calls: Vec<_> = fake
            .calls("sendMessage")
            .into_iter()
            .enumerate()
            .filter(|(_, c)| sent_gate(&c.params))
            .collect();
        if let Some((i, c)) = calls.get(nth) {
            let id = *i as i64 + 1;
            // Recorded on arrival; the message exists once answered.
            if fake.text_of(CHAT, id).is_some() {
                let kb = &c.params["reply_markup"]["inline_keyboard"][0];
                let data = (0..2)
                    .map(|k| kb[k]["callback_data"].as_str().unwrap().to_owned())
                    .collect();
                return (id, data);
            }
        }
        assert!(start.elapsed() < WAIT, "gate message {nth} never came");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn accept(dir: &Path) -> Value {
    let gates: Value =
        serde_json::from_slice(&loom(dir, &["gates", "--all", "--json"]).stdout).unwrap();
    gates
        .as_array()
        .unwrap()
        .iter()
        .rfind(|g| g["name"] == "accept")
        .cloned()
        .unwrap_or(Value::Null)
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "{what} never happened");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn decision_ticks(dir: &Path) -> usize {
    let c = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM ticks WHERE kind = 'decision'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    n as usize
}

fn start_task(dir: &Path) {
    let t = expect_code(&loom(dir, &["run", TITLE]), 10);
    assert!(t.contains("gate accept"), "{t}");
}

fn answered(fake: &FakeTelegram, pred: impl Fn(&Value) -> bool) -> Value {
    fake.wait_call("answerCallbackQuery", WAIT, pred)
        .expect("the press was never answered")
        .params
}

#[test]
fn a_gate_is_decided_from_telegram_by_an_allowed_user_and_by_nobody_else() {
    let fake = FakeTelegram::start(TOKEN);
    let (_tmp, dir) = demo_project(&fake);
    let served = Served::start(&dir);
    let banner = served.line("telegram:");
    assert!(
        banner.contains("LOOM_TEST_TG_TOKEN") && !banner.contains(TOKEN),
        "{banner}"
    );
    start_task(&dir);
    let (mid, buttons) = gate_message(&fake, 0);
    let (text, keyboard) = fake.text_of(CHAT, mid).unwrap();
    assert!(
        keyboard && text.contains("Gate accept") && text.contains(TITLE),
        "{text}"
    );
    assert!(buttons.iter().all(|b| b.len() <= 64), "{buttons:?}");
    // The plan gate went to an agent before; count from here.
    let before = decision_ticks(&dir);

    // Not allow-listed: a polite alert, nothing recorded, and the attempt logged.
    fake.press(CHAT, EVE, mid, &buttons[0]);
    let a = answered(&fake, |p| p["show_alert"] == true);
    assert!(a["text"].as_str().unwrap().contains("not allowed"), "{a}");
    assert!(served.line("refused a button press").contains("666"));
    assert_eq!(accept(&dir)["status"], "pending");

    fake.press(CHAT, ANN, mid, &buttons[0]);
    eventually("the decision", || accept(&dir)["status"] == "approved");
    let g = accept(&dir);
    assert_eq!(
        (&g["decided_by"], &g["transport"]),
        (&json!("ann"), &json!("telegram")),
        "{g}"
    );
    eventually("the edit", || {
        fake.text_of(CHAT, mid)
            .is_some_and(|(t, k)| !k && t.contains("Approved by <b>ann</b> via telegram"))
    });
    eventually("the report of the finished run", || {
        fake.calls("sendMessage")
            .iter()
            .any(|c| c.params["text"].as_str().unwrap_or("").contains("finished"))
    });
    assert_eq!(decision_ticks(&dir), before + 1);

    // Another poller takes the token: the bot stops with a clear message, the server stays.
    fake.fail_next("getUpdates", 409, json!({"ok": false, "error_code": 409,
        "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}));
    assert!(served.line("another process polls").contains("stopped"));
    let polls = fake.calls("getUpdates").len();
    assert!(status_json(&dir)["run"]["status"] == "done");
    let o = reqwest::blocking::get(format!("http://{}/api/v1/health", served.addr)).unwrap();
    assert_eq!(o.status(), 200, "the server goes on");
    assert_eq!(
        fake.calls("getUpdates").len(),
        polls,
        "no polling loop after a 409"
    );
    drop(served);
    assert_replays_identically(&dir);
}

#[test]
fn reject_takes_the_reason_from_a_reply_through_flood_control_and_a_stale_button_decides_nothing() {
    let fake = FakeTelegram::start(TOKEN);
    let (_tmp, dir) = demo_project(&fake);
    let _served = Served::start(&dir);
    start_task(&dir);
    let (mid, buttons) = gate_message(&fake, 0);

    // Flood control on the answer: waited out for the retry_after it names.
    fake.fail_next(
        "answerCallbackQuery",
        429,
        json!({"ok": false, "error_code": 429,
        "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    fake.press(CHAT, ANN, mid, &buttons[1]);
    let prompt = fake
        .wait_call("sendMessage", WAIT, |p| {
            p["reply_markup"]["force_reply"] == true
        })
        .unwrap();
    assert!(prompt.params["text"]
        .as_str()
        .unwrap()
        .contains("why reject"));
    eventually("the answer after the wait", || {
        fake.calls("answerCallbackQuery").len() == 2
    });
    let calls = fake.calls("answerCallbackQuery");
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1));
    assert_eq!(
        accept(&dir)["status"],
        "pending",
        "nothing before the reason"
    );

    let prompt_id = fake.calls("sendMessage").len() as i64;
    fake.say(CHAT, ANN, "the <even> case is still off", Some(prompt_id));
    eventually("the rejection", || accept(&dir)["status"] == "rejected");
    let g = accept(&dir);
    assert_eq!(g["decided_by"], "ann");
    assert_eq!(g["note"], "the <even> case is still off");
    eventually("the edit", || {
        fake.text_of(CHAT, mid).is_some_and(|(t, k)| {
            !k && t.contains("Rejected by <b>ann</b>") && t.contains("&lt;even&gt;")
        })
    });

    // The old Approve button of the rejected gate: stale, nothing decided.
    let before = decision_ticks(&dir);
    fake.press(CHAT, ANN, mid, &buttons[0]);
    let a = answered(&fake, |p| {
        p["text"].as_str().unwrap_or("").starts_with("Stale")
    });
    assert!(
        a["text"].as_str().unwrap().contains("rejected by ann"),
        "{a}"
    );
    assert_eq!(decision_ticks(&dir), before);
    drop(_served);
    assert_replays_identically(&dir);
}

#[test]
fn a_gate_decided_elsewhere_leaves_a_stale_button_that_decides_nothing() {
    let fake = FakeTelegram::start(TOKEN);
    let (_tmp, dir) = demo_project(&fake);
    let _served = Served::start(&dir);
    start_task(&dir);
    let (mid, buttons) = gate_message(&fake, 0);
    let before = decision_ticks(&dir);
    expect_code(&loom(&dir, &["approve", "accept"]), 0);
    // The message says so by itself (and loses its buttons).
    eventually("the edit", || {
        fake.text_of(CHAT, mid)
            .is_some_and(|(t, k)| !k && t.contains("by <b>tester</b>"))
    });
    fake.press(CHAT, ANN, mid, &buttons[0]);
    let a = answered(&fake, |p| {
        p["text"].as_str().unwrap_or("").starts_with("Stale")
    });
    assert!(a["text"].as_str().unwrap().contains("tester"), "{a}");
    assert_eq!(decision_ticks(&dir), before + 1);
    assert_eq!(accept(&dir)["decided_by"], "tester");
    drop(_served);
    assert_replays_identically(&dir);
}

#[test]
fn a_kill_after_the_press_before_its_confirmation_records_the_decision_once() {
    let fake = FakeTelegram::start(TOKEN);
    let (_tmp, dir) = demo_project(&fake);
    let served = Served::start(&dir);
    start_task(&dir);
    let (mid, buttons) = gate_message(&fake, 0);
    // The press is fetched and decided, then the process dies before its update is
    // confirmed (the answer to the press hangs, so no next poll confirms it).
    let before = decision_ticks(&dir);
    fake.hang("answerCallbackQuery");
    let update = fake.press(CHAT, ANN, mid, &buttons[0]);
    fake.wait_call("answerCallbackQuery", WAIT, |_| true)
        .unwrap();
    assert_eq!(accept(&dir)["decided_by"], "ann");
    assert!(fake.confirmed() <= update, "not confirmed yet");
    served.kill9();
    fake.unhang();

    let _served = Served::start(&dir);
    let a = answered(&fake, |p| p["text"] == "Already recorded.");
    assert_eq!(a["show_alert"], false);
    eventually("the confirmation", || fake.confirmed() > update);
    assert_eq!(decision_ticks(&dir), before + 1, "exactly one decision");
    eventually("the edit", || {
        fake.text_of(CHAT, mid)
            .is_some_and(|(t, k)| !k && t.contains("Approved by <b>ann</b>"))
    });
    let gates_sent = fake
        .calls("sendMessage")
        .iter()
        .filter(|c| c.params["reply_markup"]["inline_keyboard"].is_array())
        .count();
    assert_eq!(gates_sent, 1, "the restart remembered the gate was sent");
    drop(_served);
    assert_replays_identically(&dir);
}

#[test]
fn without_the_token_the_server_runs_and_says_why_the_bot_did_not() {
    let fake = FakeTelegram::start(TOKEN);
    let (_tmp, dir) = demo_project(&fake);
    let served = Served::start_with(&dir, None);
    let why = served.line("telegram: not started");
    assert!(
        why.contains("LOOM_TEST_TG_TOKEN") && why.contains("not set"),
        "{why}"
    );
    start_task(&dir);
    assert!(fake.calls("getUpdates").is_empty() && fake.calls("sendMessage").is_empty());
    drop(served);
    assert_replays_identically(&dir);
}
