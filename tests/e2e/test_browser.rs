//! The dashboard in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver) against a real `loom serve` on a scripted demo project. It logs in through the
//! one-time link, decides gates by clicking, watches ticks arrive without a reload, and
//! checks that markup in a model's reply stays text. Screenshots of each page are written to
//! `target/screenshots/`.
//! The browser itself is in `browser.rs`.

use crate::browser::*;
use crate::common::*;
use crate::test_serve::Server;
use serde_json::Value;
use std::path::Path;
use thirtyfour::prelude::*;

/// The one-time login link `loom serve` printed.
fn login_link(server: &Server) -> String {
    loop {
        let line = server.lines.recv_timeout(WAIT).unwrap();
        if let Some(at) = line.find("http://") {
            if line.contains("/login?code=") {
                return line[at..].trim().to_owned();
            }
        }
    }
}

fn accept_gate(dir: &Path) -> Value {
    gate_named(dir, "accept")
}

#[test]
fn the_dashboard_decides_a_gate_by_click_follows_the_run_live_and_refuses_a_stale_page() {
    if !browser_wanted() {
        return;
    }
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("supervised", ""), &replies);
    let server = Server::start(&dir);
    let login = login_link(&server);
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );
    let at_gate = status_json(&dir)["run"]["last_seq"].as_u64().unwrap();
    let base = format!("http://{}", server.addr);
    run_async(async {
        let b = Browser::start().await;
        b.d().goto(&login).await.unwrap();
        // The overview shows the accept gate with exactly its text.
        let card = b.wait_text("section.gate", "gate accept").await;
        assert!(
            card.contains("Task: Fix median() for lists of even length")
                && card.contains("Tests: passed"),
            "{card}"
        );
        b.shot("overview").await;
        b.d().set_window_rect(0, 0, 390, 844).await.unwrap();
        b.shot("overview-phone").await;
        // On a phone the page fits its width: nothing scrolls sideways (text in a `pre`
        // scrolls inside its own box).
        let wide = b
            .js("var w = document.documentElement.clientWidth; \
                 return Array.from(document.querySelectorAll('main *')) \
                   .filter(function (e) { return !e.closest('pre') && e.getBoundingClientRect().right > w + 1; }) \
                   .map(function (e) { return e.tagName + '.' + e.className; }).slice(0, 5)")
            .await;
        assert_eq!(wide, serde_json::json!([]), "wider than a phone");
        // Dark when the system is dark.
        let background = "return getComputedStyle(document.body).backgroundColor";
        assert_eq!(b.js(background).await, "rgb(247, 247, 245)");
        b.color_scheme("dark").await;
        assert_eq!(b.js(background).await, "rgb(21, 23, 27)");
        b.shot("overview-phone-dark").await;
        b.color_scheme("").await;
        b.d().set_window_rect(0, 0, 1280, 900).await.unwrap();

        b.d().goto(format!("{base}/runs")).await.unwrap();
        b.wait_text("table.runs", "Fix median()").await;
        b.shot("runs").await;
        b.d()
            .goto(format!("{base}/runs?status=done"))
            .await
            .unwrap();
        b.wait_text("p.empty", "No runs that are done").await;

        // A tick opens to its ledger rows: the implementer's prompt and its reply.
        b.d().goto(format!("{base}/runs/1")).await.unwrap();
        let implement = b.seq_of_step("implement").await;
        let apply = b.seq_of_step("apply").await;
        let tick = format!("li.tick[data-seq='{implement}']");
        b.d()
            .find(By::Css(format!("{tick} summary")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let opened = b.wait_text(&format!("{tick} .rows"), "Prompt").await;
        assert!(
            opened.contains("Reply") && opened.contains("return (ordered[middle - 1]"),
            "{opened}"
        );
        b.shot("run").await;
        b.d()
            .goto(format!("{base}/runs/1/ticks/{apply}"))
            .await
            .unwrap();
        b.wait_text("pre.diff .add", "if len(ordered) % 2 == 0:")
            .await;
        b.shot("tick-diff").await;

        // A second tab keeps the gate inbox as it is now: it goes stale below.
        let first = b.d().window().await.unwrap();
        let stale = b.d().new_tab().await.unwrap();
        b.d().switch_to_window(stale.clone()).await.unwrap();
        b.d().goto(format!("{base}/gates")).await.unwrap();
        b.wait_text("section.gate", "gate accept").await;
        b.shot("gates").await;

        // Approve on the run page: the decision and the finish tick arrive without a reload.
        b.d().switch_to_window(first).await.unwrap();
        b.d().goto(format!("{base}/runs/1")).await.unwrap();
        b.wait_text("#conn", "live").await;
        let before = b
            .js("return document.querySelectorAll('#timeline li').length")
            .await;
        assert_eq!(before, at_gate, "the page was rendered at the gate");
        b.js("window.stayed = 'no reload'; return 0").await;
        b.d()
            .find(By::Css("section.gate button.approve"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait_text("section.gate .outcome", "Approved").await;
        let finish = b.wait_text("#timeline li", "finish").await;
        assert!(finish.contains("#"), "{finish}");
        b.wait_text("#status", "done").await;
        assert_eq!(b.js("return window.stayed").await, "no reload");
        b.shot("run-done").await;

        // The stale tab's Approve is refused, and the page says why.
        b.d().switch_to_window(stale).await.unwrap();
        b.d()
            .find(By::Css("section.gate button.approve"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let refused = b
            .wait_text("section.gate .outcome.error", "already approved")
            .await;
        assert!(refused.contains("nothing recorded"), "{refused}");
        b.shot("gates-stale").await;

        // Replay from the page: identical.
        b.d().goto(format!("{base}/runs/1")).await.unwrap();
        b.d()
            .find(By::XPath("//button[text()='Replay this run']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait_text("main", "Identical.").await;
        b.shot("replay").await;
        let accept = accept_gate(&dir);
        assert_eq!(
            (
                accept["status"].as_str(),
                accept["decided_by"].as_str(),
                accept["transport"].as_str()
            ),
            (Some("approved"), Some("tester"), Some("web")),
            "{accept}"
        );
        assert_replays_identically(&dir);

        // A record altered behind loom's back: the replay shows where, with both sides.
        let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
        db.execute(
            "UPDATE gates SET summary = 'looks fine' WHERE name = 'accept'",
            [],
        )
        .unwrap();
        // Closed before the replay, as any other writer would be.
        drop(db);
        b.d().goto(format!("{base}/runs/1")).await.unwrap();
        b.d()
            .find(By::XPath("//button[text()='Replay this run']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait_text("main", "Differs.").await;
        let sides = b.wait_text(".sides", "Recorded").await;
        assert!(sides.contains("Replayed"), "{sides}");
        b.wait_text("main p", "The recorded tick: gate-open gate accept opened")
            .await;
        let first = b.wait_text("main h2", "First difference").await;
        assert!(
            first.contains(&format!("#{at_gate}")),
            "the accept gate's tick: {first}"
        );
        b.shot("replay-differs").await;
        b.stop().await;
    });
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_script_in_a_reply_stays_text_and_a_rejection_carries_its_reason() {
    if !browser_wanted() {
        return;
    }
    let hostile = "1. fix the even case <script>document.body.dataset.pwned = 'script'; \
                   alert('pwned')</script><img src=x onerror=\"document.body.dataset.pwned='img'\">";
    let replies = [
        reply("planner", hostile),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
        // A rejected accept goes back to a fix; slow, so the pages can show it running.
        reply("implementer", ADD_TEST).replace("'''\n\n", "'''\ndelay_ms = 4000\n\n"),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("supervised", ""), &replies);
    let server = Server::start(&dir);
    let login = login_link(&server);
    expect_code(&loom(&dir, &["run", "Fix median() <b>now</b>"]), 10);
    let base = format!("http://{}", server.addr);
    let reason = "cover a list of two numbers as well";
    run_async(async {
        let b = Browser::start().await;
        b.d().goto(&login).await.unwrap();
        b.wait_text("h1", "Fix median() <b>now</b>").await;
        b.d().goto(format!("{base}/runs/1")).await.unwrap();
        let plan = b.seq_of_step("plan").await;
        b.d()
            .goto(format!("{base}/runs/1/ticks/{plan}"))
            .await
            .unwrap();
        let shown = b.wait_text("pre.text", "<script>").await;
        assert!(
            shown.contains("<script>document.body.dataset.pwned = 'script';")
                && shown.contains("<img src=x onerror="),
            "the reply is shown literally: {shown}"
        );
        b.shot("tick-hostile-reply").await;
        assert!(b.d().get_alert_text().await.is_err(), "no alert is open");
        assert_eq!(
            b.js("return document.body.dataset.pwned || 'inert'").await,
            "inert"
        );
        assert_eq!(
            b.js("return document.scripts.length").await,
            1,
            "only live.js"
        );
        assert_eq!(
            b.js("return document.querySelectorAll('main img').length")
                .await,
            0
        );

        // Reject with a reason from the run page; the decision tick arrives live.
        b.d().goto(format!("{base}/runs/1")).await.unwrap();
        b.wait_text("#conn", "live").await;
        b.js("window.stayed = 'no reload'; return 0").await;
        // An empty reason is not sent: the browser asks for one first.
        b.d()
            .find(By::Css("section.gate button.reject"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let empty = b
            .js("return document.querySelector('section.gate textarea').validity.valueMissing")
            .await;
        assert_eq!(empty, true);
        let field = b
            .d()
            .find(By::Css("section.gate textarea[name='reason']"))
            .await
            .unwrap();
        field.send_keys(reason).await.unwrap();
        // By keyboard: Tab from the reason reaches the Reject button, Enter presses it.
        field.send_keys(Key::Tab).await.unwrap();
        let focused = b.js("return document.activeElement.textContent").await;
        assert_eq!(focused, "Reject");
        let ring = b
            .js("return getComputedStyle(document.activeElement).outlineStyle")
            .await;
        assert_eq!(ring, "solid", "a visible focus ring");
        b.d()
            .active_element()
            .await
            .unwrap()
            .send_keys(Key::Enter)
            .await
            .unwrap();
        b.wait_text("section.gate .outcome", "Rejected").await;
        let decision = b.wait_text("#timeline li", "rejected gate accept").await;
        assert!(decision.to_lowercase().contains("decision"), "{decision}");
        // The implementer works on the reason: its live line, then the overview's own.
        b.wait_text("#effect", "implementer is working").await;
        assert_eq!(b.js("return window.stayed").await, "no reload");
        b.shot("run-rejected").await;
        b.d().goto(format!("{base}/")).await.unwrap();
        let running = b.wait_text("#effect", "running since tick").await;
        assert!(running.contains("agent"), "{running}");
        b.shot("overview-running").await;

        // The inbox lists it with its reason, and the next accept gate is waiting.
        b.d().goto(format!("{base}/gates")).await.unwrap();
        b.wait_text("table", reason).await;
        b.stop().await;
    });
    let gates: Value =
        serde_json::from_slice(&loom(&dir, &["gates", "--all", "--json"]).stdout).unwrap();
    let rejected = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept" && g["status"] == "rejected")
        .unwrap();
    assert_eq!(
        (rejected["note"].as_str(), rejected["transport"].as_str()),
        (Some(reason), Some("web")),
        "{rejected}"
    );
    assert_eq!(server.stop(), Some(0));
    assert_replays_identically(&dir);
}

/// A gate its bundle marks editable (the code bundle's plan, a person's under the manual
/// policy) is approved with edits from the dashboard: the editor starts from exactly the
/// shown text, the decision records the edit, the implementer follows the edited plan, and
/// the run verifies and replays. The accept gate, not editable, offers no editor.
#[test]
fn the_dashboard_approves_a_plan_with_edits_and_the_implementer_follows_them() {
    if !browser_wanted() {
        return;
    }
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("manual", ""), &replies);
    let server = Server::start(&dir);
    let login = login_link(&server);
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );
    let base = format!("http://{}", server.addr);
    let shown = gate_named(&dir, "plan")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    let edited = "1. fix the even case\n2. keep the odd case as it is (edited in the browser)";
    // The person keeps the gate's header and rewrites the plan under it.
    let typed = format!("{}Plan:\n{edited}", shown.split("Plan:\n").next().unwrap());
    run_async(async {
        let b = Browser::start().await;
        b.d().goto(&login).await.unwrap();
        b.d().goto(format!("{base}/gates")).await.unwrap();
        b.wait_text("section.gate", "gate plan").await;
        let field = b
            .d()
            .find(By::Css("section.gate textarea[name='edited']"))
            .await
            .unwrap();
        assert_eq!(
            field.prop("value").await.unwrap().as_deref(),
            Some(shown.as_str()),
            "the editor starts from the shown text"
        );
        field.clear().await.unwrap();
        field.send_keys(&typed).await.unwrap();
        b.shot("gate-edit").await;
        b.d()
            .find(By::Css("section.gate form.edit button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait_text("section.gate .outcome", "Approved with edits")
            .await;
        // The run goes on to the accept gate, which offers approve and reject only.
        let start = std::time::Instant::now();
        while status_json(&dir)["pending_gates"][0]["name"] != "accept" {
            let s = status_json(&dir);
            assert!(
                start.elapsed() < WAIT && s["run"]["status"] != "stopped",
                "the run never reached the accept gate: {s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        b.d().goto(format!("{base}/gates")).await.unwrap();
        b.wait_text("section.gate", "gate accept").await;
        let editors = b
            .js("return document.querySelectorAll(\"section.gate textarea[name='edited']\").length")
            .await;
        assert_eq!(editors, 0, "the accept gate is not editable");
        b.stop().await;
    });
    let plan = gate_named(&dir, "plan");
    assert_eq!(plan["status"], "approved", "{plan}");
    assert_eq!(plan["transport"], "web", "{plan}");
    let prompt = implementer_prompt(&dir);
    assert!(
        prompt.contains(&format!("Approved plan:\n{edited}\n")),
        "the edit as typed, with LF line ends: {prompt}"
    );
    assert_eq!(server.stop(), Some(0));
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}

/// The newest gate called `name` in the run.
fn gate_named(dir: &Path, name: &str) -> Value {
    let gates: Value =
        serde_json::from_slice(&loom(dir, &["gates", "--all", "--json"]).stdout).unwrap();
    gates
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no gate {name}: {gates}"))
        .clone()
}
