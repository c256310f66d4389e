#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test should panic with the reason
//! The bot against the loopback Bot API ([`crate::fake`]), on a real engine service driving
//! the testkit bundle (whose gate `finish` is a human's under the default policy).

use crate::api::{Api, ApiError};
use crate::fake::FakeTelegram;
use crate::render::{self, Press};
use crate::*;
use loom_engine::{project, Decision, Origin};
use loom_kernel::{Decider, Gate, GateStatus, Risk, TickKind};
use loom_service::Service;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

mod flows;

const TOKEN: &str = "123456:ABC-DEF_test";
const CHAT: i64 = 42;
const ANN: i64 = 42;
const EVE: i64 = 666;
const WAIT: Duration = Duration::from_secs(30);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(base: &str) -> loom_engine::TelegramConfig {
    loom_engine::TelegramConfig {
        token_env: "LOOM_TG_TEST".into(),
        chats: vec![CHAT],
        users: [(ANN.to_string(), "ann".to_owned())].into(),
        api_base: base.into(),
    }
}

fn settings(base: &str) -> Settings {
    Settings::from_config(&config(base), |_| Some(TOKEN.into())).unwrap()
}

fn project_dir() -> tempfile::TempDir {
    project_replying("all <b>done</b>")
}

/// A testkit project whose worker replies `text` (three times).
fn project_replying(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    project::init(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("loom.toml"),
        "default_chain = [\"scripted:replies.toml\"]\n",
    )
    .unwrap();
    let reply = format!("[[reply]]\nrole = \"worker\"\ntext = \"{text}\"\n\n");
    std::fs::write(dir.path().join("replies.toml"), reply.repeat(3)).unwrap();
    dir
}

/// A bot on a fresh service, started on `rt`; answers the service (keep it alive).
fn start_bot(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    fake: &FakeTelegram,
) -> (Service, tokio::sync::watch::Sender<bool>) {
    let svc = Service::start(dir, "http").unwrap();
    let bot = Bot::new(settings(&fake.base()), svc.handle()).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    rt.spawn(bot.run(rx));
    (svc, tx)
}

fn gate_message(fake: &FakeTelegram) -> (i64, Value) {
    let c = fake
        .wait_call("sendMessage", WAIT, |p| {
            p.get("reply_markup")
                .is_some_and(|m| m.get("inline_keyboard").is_some())
        })
        .expect("the gate was never sent");
    // Recorded as it arrives; its message exists once answered.
    eventually("message 1", || fake.text_of(CHAT, 1).is_some());
    let m = fake.text_of(CHAT, 1).expect("message 1 exists");
    assert!(m.1, "it has a keyboard");
    (1, c.params)
}

fn button(params: &Value, i: usize) -> String {
    params["reply_markup"]["inline_keyboard"][0][i]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn finish_gate(svc: &Service) -> Gate {
    svc.handle()
        .reader()
        .gates(true)
        .unwrap()
        .into_iter()
        .rfind(|g| g.name == "finish")
        .unwrap()
}

/// Polls `cond` until it holds or [`WAIT`] passes.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "{what} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn decisions(svc: &Service) -> usize {
    svc.handle()
        .reader()
        .log(None)
        .unwrap()
        .iter()
        .filter(|e| e.tick.kind == TickKind::Decision)
        .count()
}

fn open_task(rt: &tokio::runtime::Runtime, svc: &Service) {
    rt.block_on(svc.handle().start(
        "do the work",
        loom_guests::TESTKIT.to_vec(),
        None,
        Origin::human("ann", "cli"),
    ))
    .unwrap();
}

#[test]
fn settings_take_the_token_from_the_environment_and_want_numeric_user_ids() {
    let c = config("http://127.0.0.1:1");
    let e = Settings::from_config(&c, |_| None).unwrap_err();
    assert!(e.to_string().contains("LOOM_TG_TEST"), "{e}");
    let mut bad = c.clone();
    bad.users = [("ann".to_owned(), "ann".to_owned())].into();
    let e = Settings::from_config(&bad, |_| Some(TOKEN.into())).unwrap_err();
    assert!(e.to_string().contains("not a Telegram user id"), "{e}");
    let mut bad = c.clone();
    bad.chats.clear();
    assert!(Settings::from_config(&bad, |_| Some(TOKEN.into())).is_err());
    let s = Settings::from_config(&c, |_| Some(format!(" {TOKEN}\n"))).unwrap();
    assert_eq!((s.token.as_str(), s.users[&ANN].as_str()), (TOKEN, "ann"));
    assert!(
        !format!("{s:?}").contains(TOKEN),
        "Debug leaves the token out"
    );
    let parsed: loom_engine::Config = loom_engine::Config::parse(
        "[telegram]\ntoken_env = \"T\"\nchats = [-100123]\nusers = { \"42\" = \"ann\" }\n",
    )
    .unwrap();
    let t = parsed.telegram.unwrap();
    assert_eq!(
        (t.chats, t.api_base.as_str()),
        (vec![-100123], "https://api.telegram.org")
    );
    assert!(loom_engine::Config::parse("[telegram]\ntoken_env = \"T\"\ntoken = \"x\"\n").is_err());
}

fn gate(summary: &str, name: &str) -> Gate {
    Gate {
        id: u64::MAX,
        run_id: u64::MAX,
        name: name.into(),
        status: GateStatus::Pending,
        decider: Decider::Human,
        risk: Risk::High,
        summary: summary.into(),
        shown_hash: "8a1bcea2".repeat(8),
        opened_tick: 3,
        decided_tick: None,
        decided_by: None,
        transport: None,
        note: None,
    }
}

#[test]
fn buttons_fit_64_bytes_and_messages_are_escaped_and_cut_to_4096_chars() {
    let g = gate(&"<script>&\"x\"".repeat(2000), "accept");
    let kb = render::keyboard(&g);
    for i in 0..2 {
        let data = button(&json!({ "reply_markup": kb }), i);
        assert!(data.len() <= render::CALLBACK_BYTES_MAX, "{data}");
        let p = Press::parse(&data).unwrap();
        assert_eq!((p.run, p.gate, p.approve), (u64::MAX, u64::MAX, i == 0));
        assert!(g.shown_hash.starts_with(&p.hash_prefix));
    }
    assert_eq!(Press::parse("a:1:2:xyz"), None);
    assert_eq!(Press::parse("a:1:2:0123abcd:extra"), None);
    let text = render::gate_message(&g, Some("fix <b>it</b>"));
    assert!(text.chars().count() <= render::TEXT_CHARS_MAX);
    assert!(
        !text.contains("<script>") && !text.contains("<b>it</b>"),
        "escaped"
    );
    assert!(text.contains("&lt;script&gt;&amp;&quot;x&quot;"));
    assert!(
        text.contains("loom gates"),
        "a cut message says where the rest is"
    );
    let short = render::gate_message(&gate("ok", "accept"), None);
    assert!(!short.contains("cut to fit"), "{short}");
    let long = render::gate_message(&g, Some(&"t".repeat(4096)));
    assert!(
        long.chars().count() <= render::TEXT_CHARS_MAX,
        "a long title still fits"
    );
    assert_eq!(
        render::answer_text(&"x".repeat(500)).chars().count(),
        render::ANSWER_CHARS_MAX
    );
    let u = render::gate_message(&gate("may or may not", "uncertain:r1/work#1#2"), None);
    assert!(u.contains("Uncertain effect"), "{u}");
}

#[test]
fn the_client_reads_envelopes_and_speaks_json_and_forms() {
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let api = Api::new(&fake.base(), TOKEN).unwrap();
    rt.block_on(async {
        let m = api.send_message(CHAT, "<b>hi</b>", None, None).await.unwrap();
        // Identical content: Telegram says "not modified", which is success.
        api.edit_message_text(CHAT, m.message_id, "<b>hi</b>").await.unwrap();
        api.edit_message_text(CHAT, m.message_id, "bye").await.unwrap();
        api.answer_callback_query("cq1", "Approved", true).await.unwrap();
        fake.fail_next("sendMessage", 429, json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}}));
        assert_eq!(
            api.send_message(CHAT, "x", None, None).await.unwrap_err(),
            ApiError::Flood { retry_after_s: 5 }
        );
        fake.fail_next("getUpdates", 409, json!({"ok": false, "error_code": 409,
            "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}));
        let e = api.get_updates(None, 0).await.unwrap_err();
        assert!(matches!(e, ApiError::Conflict(_)), "{e:?}");
        fake.migrate_chat(-5, -1005);
        assert_eq!(
            api.send_message(-5, "x", None, None).await.unwrap_err(),
            ApiError::Migrated { to: -1005 }
        );
        // A wrong token is refused, and the error names no URL (which holds the token).
        let wrong = Api::new(&fake.base(), "999:WRONG").unwrap();
        let e = wrong.get_updates(None, 0).await.unwrap_err();
        assert!(matches!(e, ApiError::Refused { code: 401, .. }), "{e:?}");
        let down = Api::new("http://127.0.0.1:9", TOKEN).unwrap();
        let e = down.get_updates(None, 0).await.unwrap_err();
        assert!(e.is_transient() && !e.to_string().contains(TOKEN), "{e}");
    });
    let answer = &fake.calls("answerCallbackQuery")[0];
    assert!(answer.form, "flat calls go as forms");
    assert_eq!(answer.params["show_alert"], true);
    let poll = &fake.calls("getUpdates")[0];
    assert!(poll.form);
    assert_eq!(
        poll.params["allowed_updates"],
        json!(["message", "callback_query"])
    );
    let send = &fake.calls("sendMessage")[0];
    assert!(!send.form, "nested calls go as JSON");
    assert_eq!(send.params["parse_mode"], "HTML");
    assert_eq!(fake.text_of(CHAT, 1).unwrap().0, "bye");
}

#[test]
fn flood_control_is_waited_out_for_the_retry_after_it_names() {
    let fake = FakeTelegram::start(TOKEN);
    let api = Api::new(&fake.base(), TOKEN).unwrap();
    fake.fail_next(
        "sendMessage",
        429,
        json!({"ok": false, "error_code": 429,
        "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    rt().block_on(bot::retrying(|| api.send_message(CHAT, "x", None, None)))
        .unwrap();
    let calls = fake.calls("sendMessage");
    assert_eq!(calls.len(), 2);
    // A lower bound only: the retry may come later, never sooner.
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1));
}
