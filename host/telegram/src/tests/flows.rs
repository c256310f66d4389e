//! Whole flows on a real engine service: a gate reaches the chat, presses decide it (once),
//! reasons come from replies, stale buttons decide nothing, a 409 ends only the bot.

use super::*;

#[test]
fn a_press_by_an_allowed_user_decides_once_and_anyone_else_changes_nothing() {
    let dir = project_dir();
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let (svc, stop) = start_bot(&rt, dir.path(), &fake);
    open_task(&rt, &svc);
    let (mid, params) = gate_message(&fake);
    let text = params["text"].as_str().unwrap();
    assert!(
        text.contains("Gate finish") && text.contains("do the work"),
        "{text}"
    );
    assert!(
        text.contains("all &lt;b&gt;done&lt;/b&gt;"),
        "escaped: {text}"
    );
    let approve = button(&params, 0);

    // Someone not allow-listed: an alert, and nothing recorded.
    fake.press(CHAT, EVE, mid, &approve);
    let refusal = fake
        .wait_call("answerCallbackQuery", WAIT, |p| p["show_alert"] == true)
        .unwrap();
    assert!(refusal.params["text"]
        .as_str()
        .unwrap()
        .contains("not allowed"));
    assert_eq!(finish_gate(&svc).status, GateStatus::Pending);

    fake.press(CHAT, ANN, mid, &approve);
    eventually("the decision", || {
        finish_gate(&svc).status == GateStatus::Approved
    });
    let g = finish_gate(&svc);
    assert_eq!(
        (g.decided_by.as_deref(), g.transport.as_deref()),
        (Some("ann"), Some("telegram"))
    );
    eventually("the edit", || {
        fake.text_of(CHAT, mid)
            .is_some_and(|(t, k)| !k && t.contains("Approved by <b>ann</b>"))
    });

    eventually("the run's end is reported", || {
        fake.calls("sendMessage")
            .iter()
            .any(|c| c.params["text"].as_str().unwrap_or("").contains("finished"))
    });

    // The same press again, as after a restart before its offset was confirmed: recognised
    // as done, recorded once.
    let _ = stop.send(true);
    drop(svc);
    let (svc, _stop) = start_bot(&rt, dir.path(), &fake);
    fake.press(CHAT, ANN, mid, &approve);
    fake.wait_call("answerCallbackQuery", WAIT, |p| {
        p["text"] == "Already recorded."
    })
    .unwrap();
    assert_eq!(decisions(&svc), 1);
    let gates_sent = fake
        .calls("sendMessage")
        .iter()
        .filter(|c| {
            c.params
                .get("reply_markup")
                .is_some_and(|m| m.get("inline_keyboard").is_some())
        })
        .count();
    assert_eq!(gates_sent, 1, "the restart did not send the gate again");
}

#[test]
fn reject_takes_the_reason_from_the_reply_and_a_stale_button_decides_nothing() {
    let dir = project_dir();
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let (svc, _stop) = start_bot(&rt, dir.path(), &fake);
    open_task(&rt, &svc);
    let (mid, params) = gate_message(&fake);
    fake.press(CHAT, ANN, mid, &button(&params, 1));
    let prompt = fake
        .wait_call("sendMessage", WAIT, |p| {
            p["reply_markup"]["force_reply"] == true
        })
        .unwrap();
    assert!(prompt.params["text"]
        .as_str()
        .unwrap()
        .contains("why reject"));
    assert_eq!(
        finish_gate(&svc).status,
        GateStatus::Pending,
        "not before the reason"
    );
    // Someone else's message in the chat is not the reason.
    fake.say(CHAT, EVE, "approve it, whatever", None);
    let prompt_id = fake.calls("sendMessage").len() as i64;
    fake.say(CHAT, ANN, "the result is <wrong>", Some(prompt_id));
    eventually("the rejection", || {
        let g = svc.handle().reader().gates(true).unwrap();
        g.iter().any(|g| g.status == GateStatus::Rejected)
    });
    let g = svc
        .handle()
        .reader()
        .gates(true)
        .unwrap()
        .into_iter()
        .find(|g| g.status == GateStatus::Rejected)
        .unwrap();
    assert_eq!(
        (g.decided_by.as_deref(), g.note.as_deref()),
        (Some("ann"), Some("the result is <wrong>"))
    );
    eventually("the edit", || {
        fake.text_of(CHAT, mid).is_some_and(|(t, _)| {
            t.contains("Rejected by <b>ann</b>") && t.contains("&lt;wrong&gt;")
        })
    });

    // The gate opens again (a new id); decided from the CLI, its button goes stale.
    let again = fake
        .wait_call("sendMessage", WAIT, |p| {
            p.get("reply_markup")
                .is_some_and(|m| m.get("inline_keyboard").is_some())
                && button(p, 0) != button(&params, 0)
        })
        .unwrap();
    let mid2 = fake.calls("sendMessage").len() as i64;
    let g2 = finish_gate(&svc);
    let mut d = Decision::new(&g2.id.to_string(), true, None, Origin::human("bob", "cli"));
    d.shown_hash = Some(g2.shown_hash.clone());
    svc.handle().decide_blocking(d).unwrap();
    let before = decisions(&svc);
    fake.press(CHAT, ANN, mid2, &button(&again.params, 0));
    let stale = fake
        .wait_call("answerCallbackQuery", WAIT, |p| {
            p["text"].as_str().unwrap_or("").starts_with("Stale")
        })
        .unwrap();
    assert!(
        stale.params["text"]
            .as_str()
            .unwrap()
            .contains("bob via cli"),
        "{:?}",
        stale.params
    );
    eventually("the stale edit", || {
        fake.text_of(CHAT, mid2)
            .is_some_and(|(t, k)| !k && t.contains("bob"))
    });
    assert_eq!(decisions(&svc), before, "nothing decided");
    // And an old button of an earlier opening is stale too.
    fake.press(CHAT, ANN, mid, &button(&params, 0));
    eventually("the second stale answer", || {
        fake.calls("answerCallbackQuery")
            .iter()
            .filter(|c| c.params["text"].as_str().unwrap_or("").starts_with("Stale"))
            .count()
            == 2
    });
    assert_eq!(decisions(&svc), before);
}

#[test]
fn a_conflict_stops_the_bot_and_a_migrated_group_is_followed() {
    let dir = project_dir();
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let svc = Service::start(dir.path(), "http").unwrap();
    let mut s = settings(&fake.base());
    s.chats = vec![-5];
    fake.migrate_chat(-5, -1005);
    let bot = Bot::new(s, svc.handle()).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let running = rt.spawn(bot.run(rx));
    open_task(&rt, &svc);
    let sent = fake
        .wait_call("sendMessage", WAIT, |p| p["chat_id"] == -1005)
        .expect("the gate goes to the supergroup");
    assert!(sent.params["reply_markup"]["inline_keyboard"].is_array());
    let state = crate::state::State::load(dir.path()).0;
    assert_eq!(state.current_chat(-5), -1005);
    fake.fail_next("getUpdates", 409, json!({"ok": false, "error_code": 409,
        "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}));
    let r = rt.block_on(async { tokio::time::timeout(WAIT, running).await });
    let e = r.expect("the bot stopped").unwrap().unwrap_err();
    assert!(matches!(e, TelegramError::Conflict(_)), "{e}");
    // The engine goes on without it.
    assert!(svc.handle().reader().status().is_ok());
}

#[test]
fn a_reason_for_a_gate_decided_meanwhile_records_nothing_and_says_so() {
    let dir = project_dir();
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let (svc, _stop) = start_bot(&rt, dir.path(), &fake);
    open_task(&rt, &svc);
    let (mid, params) = gate_message(&fake);
    fake.press(CHAT, ANN, mid, &button(&params, 1));
    fake.wait_call("sendMessage", WAIT, |p| {
        p["reply_markup"]["force_reply"] == true
    })
    .unwrap();
    let g = finish_gate(&svc);
    let mut d = Decision::new(&g.id.to_string(), true, None, Origin::human("bob", "cli"));
    d.shown_hash = Some(g.shown_hash.clone());
    svc.handle().decide_blocking(d).unwrap();
    let before = decisions(&svc);
    fake.say(CHAT, ANN, "too late", None);
    let told = fake
        .wait_call("sendMessage", WAIT, |p| {
            p["text"].as_str().unwrap_or("").starts_with("Not recorded")
        })
        .unwrap();
    assert!(
        told.params["text"]
            .as_str()
            .unwrap()
            .contains("approved by bob via cli"),
        "{:?}",
        told.params
    );
    assert_eq!(decisions(&svc), before);
    assert_eq!(finish_gate(&svc).decided_by.as_deref(), Some("bob"));
}

/// The text of the first message sent after `after` calls of sendMessage that `pred` accepts.
fn sent_after(fake: &FakeTelegram, after: usize, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let calls = fake.calls("sendMessage");
        if let Some(c) = calls[after.min(calls.len())..]
            .iter()
            .find(|c| pred(c.params["text"].as_str().unwrap_or("")))
        {
            return c.params["text"].as_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < WAIT, "the message never came");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn commands_answer_allowed_users_only_and_a_stopped_run_is_reported_with_its_rule() {
    let dir = project_dir();
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let (svc, _stop) = start_bot(&rt, dir.path(), &fake);
    open_task(&rt, &svc);
    gate_message(&fake);
    let n = fake.calls("sendMessage").len();
    // Someone not allow-listed is not answered; the next answer is to ann's /status.
    fake.say(CHAT, EVE, "/status", None);
    fake.say(CHAT, ANN, "/status@loom_test_bot", None);
    let status = sent_after(&fake, n, |_| true);
    assert!(
        status.contains("Run #1: waiting") && status.contains("gate finish"),
        "{status}"
    );
    fake.say(CHAT, ANN, "/log", None);
    let log = sent_after(&fake, n + 1, |_| true);
    assert!(
        log.contains("#1 start") && log.contains("gate-open"),
        "{log}"
    );
    fake.say(CHAT, ANN, "/gates", None);
    let again = sent_after(&fake, n + 2, |_| true);
    assert!(again.contains("Gate finish"), "{again}");
    let last = fake.calls("sendMessage").pop().unwrap();
    assert!(last.params["reply_markup"]["inline_keyboard"].is_array());
    assert_eq!(
        fake.calls("sendMessage").len(),
        n + 3,
        "three answers, none of them to eve"
    );
    drop(svc);

    // A rule refuses the worker's result: the run stops, and the chat is told which rule.
    let dir = project_replying("FORBIDDEN");
    let fake = FakeTelegram::start(TOKEN);
    let (svc, _stop) = start_bot(&rt, dir.path(), &fake);
    open_task(&rt, &svc);
    let stopped = sent_after(&fake, 0, |t| t.contains("stopped"));
    assert!(stopped.contains("no-forbidden"), "{stopped}");
}

#[test]
fn a_refused_token_stops_the_bot_and_is_never_shown() {
    let dir = project_dir();
    let fake = FakeTelegram::start(TOKEN);
    let rt = rt();
    let svc = Service::start(dir.path(), "http").unwrap();
    let mut s = settings(&fake.base());
    s.token = "999:WRONG-secret".into();
    let bot = Bot::new(s, svc.handle()).unwrap();
    assert!(!bot.describe().contains("WRONG-secret"));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let r = rt.block_on(async { tokio::time::timeout(WAIT, bot.run(rx)).await });
    let e = r.expect("the bot stopped").unwrap_err();
    assert!(matches!(e, TelegramError::TokenRefused(..)), "{e}");
    assert!(e.to_string().contains("LOOM_TG_TEST") && !e.to_string().contains("WRONG-secret"));
}
