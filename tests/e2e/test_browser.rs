//! The dashboard in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver) against a real `loom serve` on a scripted demo project. It logs in through the
//! one-time link, decides gates by clicking, watches ticks arrive without a reload, and
//! checks that markup in a model's reply stays text. Screenshots of each page are written to
//! `target/screenshots/`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the tests fail (CI installs them);
//! `LOOM_SKIP_BROWSER=1` skips them on a machine that cannot have a browser.

use crate::common::*;
use crate::test_serve::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

const WAIT: Duration = Duration::from_secs(60);
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether to run: the browser is there, or skipping was asked for; otherwise a clear failure.
fn browser_wanted() -> bool {
    if std::env::var("LOOM_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("LOOM_SKIP_BROWSER=1: the browser tests are skipped");
        return false;
    }
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: install it with `apt-get install -y chromium chromium-driver` \
             (or set LOOM_SKIP_BROWSER=1 to skip the browser tests)"
        );
    }
    true
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port and a browser session in it; both end when dropped.
struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver: None,
            chromedriver,
            _profile: profile,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < WAIT, "chromedriver never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        // Without the networking switches Chromium waits for the network on a closed one.
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        ))
        .unwrap();
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
            .await
            .unwrap();
        browser.driver = Some(driver);
        browser
    }

    fn d(&self) -> &WebDriver {
        self.driver.as_ref().unwrap()
    }

    async fn shot(&self, name: &str) {
        let path = screenshots().join(format!("{name}.png"));
        self.d().screenshot(&path).await.unwrap();
    }

    /// The `data-seq` of the timeline's tick of step `step` (on a run page).
    async fn seq_of_step(&self, step: &str) -> u64 {
        let xpath =
            format!("//li[contains(@class,'tick')][.//span[@class='step' and text()='{step}']]");
        let li = self.d().find(By::XPath(xpath)).await.unwrap();
        li.attr("data-seq").await.unwrap().unwrap().parse().unwrap()
    }

    /// The text of the first element matching `css`, once it contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < WAIT {
            if let Ok(els) = self.d().find_all(By::Css(css)).await {
                for e in els {
                    if let Ok(t) = e.text().await {
                        // Rendered text: CSS may have upper-cased a label.
                        if t.contains(needle) || t.to_lowercase().contains(&needle.to_lowercase()) {
                            return t;
                        }
                        last = t;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.d().screenshot(&screenshots().join("failed.png")).await;
        let url = self.d().current_url().await.map(|u| u.to_string());
        panic!("no {css:?} ever said {needle:?} at {url:?}; the last one said {last:?}");
    }

    async fn js(&self, script: &str) -> Value {
        self.d()
            .execute(script, vec![])
            .await
            .unwrap()
            .json()
            .clone()
    }

    async fn stop(mut self) {
        if let Some(d) = self.driver.take() {
            d.quit().await.unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

fn run_async(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

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
    let gates: Value =
        serde_json::from_slice(&loom(dir, &["gates", "--all", "--json"]).stdout).unwrap();
    gates
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|g| g["name"] == "accept")
        .unwrap()
        .clone()
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
        b.stop().await;
    });
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
    assert_eq!(server.stop(), Some(0));
    assert_replays_identically(&dir);
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
        reply("implementer", ADD_TEST),
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
        b.d()
            .find(By::Css("section.gate button.reject"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait_text("section.gate .outcome", "Rejected").await;
        let decision = b.wait_text("#timeline li", "rejected gate accept").await;
        assert!(decision.to_lowercase().contains("decision"), "{decision}");
        assert_eq!(b.js("return window.stayed").await, "no reload");
        b.shot("run-rejected").await;

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
