//! `loom serve`: the real binary serving a scripted demo project on a free loopback port,
//! driven by a real HTTP client. Every wait is bounded; the server is stopped at the end.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// A running `loom serve`, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
    /// What it prints, line by line.
    pub(crate) lines: mpsc::Receiver<String>,
}

impl Server {
    pub(crate) fn start(dir: &Path) -> Server {
        let child = Command::new(LOOM)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .current_dir(dir)
            .env("USER", "tester")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        // Owned by the guard at once, so a failed wait still reaps it.
        let mut server = Server {
            child,
            addr: String::new(),
            lines,
        };
        let out = server.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let file = dir.join(".loom/serve.json");
        let start = Instant::now();
        loop {
            if let Some(v) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            {
                if v["pid"] == server.child.id() {
                    server.addr = v["addr"].as_str().unwrap().to_owned();
                    return server;
                }
            }
            assert!(start.elapsed() < WAIT, "loom serve never wrote serve.json");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1/{path}", self.addr)
    }

    /// SIGTERM, and the exit code of a clean stop.
    pub(crate) fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(WAIT)
        .build()
        .unwrap()
}

pub(crate) fn add_user(dir: &Path, name: &str) -> String {
    let o = loom(dir, &["serve", "--add-user", name]);
    let t = expect_code(&o, 0);
    let token = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(token.len(), 64, "{t}");
    token
}

/// Follows `/events` on a thread; each event arrives as (id, JSON).
fn follow(url: String, token: &str, last_id: Option<u64>) -> mpsc::Receiver<(Option<u64>, Value)> {
    let (tx, rx) = mpsc::channel();
    let mut req = client().get(url).bearer_auth(token);
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status(), 200);
    std::thread::spawn(move || {
        // Fields of one event arrive in any order; a blank line ends it.
        let (mut id, mut data) = (None, None::<Value>);
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(d) = line.strip_prefix("data:") {
                data = Some(serde_json::from_str(d.trim()).unwrap());
            } else if line.is_empty() {
                if let Some(v) = data.take() {
                    if tx.send((id.take(), v)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// The first event for which `pred` holds, within [`WAIT`].
fn wait_event(
    rx: &mpsc::Receiver<(Option<u64>, Value)>,
    pred: impl Fn(&Value) -> bool,
) -> (Option<u64>, Value) {
    let start = Instant::now();
    loop {
        let left = WAIT.saturating_sub(start.elapsed());
        let (id, v) = rx.recv_timeout(left).expect("the awaited event never came");
        if pred(&v) {
            return (id, v);
        }
    }
}

fn problem(r: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    r.json().unwrap()
}

#[test]
fn a_task_runs_over_http_and_a_decision_needs_the_right_hash_token_and_origin() {
    let (_tmp, dir) = scripted_demo("");
    let token = add_user(&dir, "ann");
    let server = Server::start(&dir);
    let http = client();
    assert_eq!(http.get(server.url("health")).send().unwrap().status(), 200);

    let events = follow(server.url("events"), &token, None);
    let r = http
        .post(server.url("tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "Fix median() for lists of even length"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let run = r.json::<Value>().unwrap()["run"].as_u64().unwrap();

    let (_, opened) = wait_event(&events, |e| {
        e["event"] == "gate-opened" && e["name"] == "accept"
    });
    let shown = opened["shown_hash"].as_str().unwrap().to_owned();
    let decision = server.url("gates/accept/decision");

    // A stale hash: refused, nothing recorded.
    let p = problem(
        http.post(&decision)
            .bearer_auth(&token)
            .json(&json!({"approved": true, "shown_hash": "00000000deadbeef"}))
            .send()
            .unwrap(),
        409,
    );
    assert_eq!(p["kind"], "conflict", "{p}");
    // No token, a wrong token, a foreign origin, a foreign host name.
    let body = json!({"approved": true, "shown_hash": shown});
    problem(http.post(&decision).json(&body).send().unwrap(), 401);
    problem(
        http.post(&decision)
            .bearer_auth("0".repeat(64))
            .json(&body)
            .send()
            .unwrap(),
        401,
    );
    let p = problem(
        http.post(&decision)
            .bearer_auth(&token)
            .header("Origin", "http://evil.example")
            .json(&body)
            .send()
            .unwrap(),
        403,
    );
    assert!(p["detail"].as_str().unwrap().contains("Origin"), "{p}");
    problem(
        http.get(server.url("status"))
            .bearer_auth(&token)
            .header("Host", "evil.example")
            .send()
            .unwrap(),
        403,
    );
    // Shown hash is required over HTTP.
    problem(
        http.post(&decision)
            .bearer_auth(&token)
            .json(&json!({"approved": true}))
            .send()
            .unwrap(),
        400,
    );
    let gates: Value = http
        .get(server.url("gates"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(gates[0]["name"], "accept");
    assert_eq!(
        gates[0]["status"], "pending",
        "nothing was recorded: {gates}"
    );

    // The right hash, from the server's own origin: the run finishes.
    let origin = format!("http://{}", server.addr);
    let r = http
        .post(&decision)
        .bearer_auth(&token)
        .header("Origin", origin)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let (done_id, _) = wait_event(&events, |e| {
        e["event"] == "run-status-changed" && e["status"] == "done"
    });
    let gates: Value = http
        .get(server.url("gates?all=true"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let accept = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(accept["decided_by"], "ann", "{accept}");

    // A reconnecting client gets what it missed from the database, then live events.
    let again = follow(server.url("events"), &token, Some((run << 32) | 1));
    let (id, first) = wait_event(&again, |_| true);
    assert_eq!(
        (first["event"].as_str(), first["seq"].as_u64()),
        (Some("tick-committed"), Some(2))
    );
    assert_eq!(id, Some((run << 32) | 2));
    let (last_id, _) = wait_event(&again, |e| {
        e["event"] == "run-status-changed" && e["status"] == "done"
    });
    assert_eq!(last_id, done_id);

    // Pages of ticks.
    let page: Value = http
        .get(server.url(&format!("runs/{run}/ticks?since=2&limit=3")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let seqs: Vec<u64> = page["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tick"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!((seqs, page["next"].as_u64()), (vec![3, 4, 5], Some(5)));
    let verify: Value = http
        .get(server.url("verify"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(verify[0]["broken"].is_null(), "{verify}");
    crate::test_serve_api::runs_attempts_and_replay_over_http(&server, &token, run);

    assert_eq!(server.stop(), Some(0), "a clean stop on SIGTERM");
    assert!(
        !dir.join(".loom/serve.json").exists(),
        "serve.json is removed on a clean stop"
    );
    assert_replays_identically(&dir);
}

#[test]
fn the_cli_forwards_driving_commands_to_a_live_server_and_a_dead_one_blocks_nothing() {
    let (_tmp, dir) = scripted_demo("");
    let server = Server::start(&dir);
    // One driver: a second server is refused, naming the first.
    let t = expect_code(&loom(&dir, &["serve", "--addr", "127.0.0.1:0"]), 6);
    assert!(t.contains("via http"), "{t}");
    let t = expect_code(&loom(&dir, &["serve", "--addr", "192.0.2.1:7700"]), 2);
    assert!(t.contains("--public"), "{t}");
    // `loom run` goes to the server (which holds the driver lock) and follows the run.
    let o = loom(&dir, &["run", "Fix median() for lists of even length"]);
    let t = expect_code(&o, 10);
    assert!(
        t.contains("sent to the loom server") && t.contains("gate accept"),
        "{t}"
    );
    // Reads read the file directly.
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["name"], "accept", "{s}");
    assert_eq!(s["driver"]["transport"], "http", "{s}");

    let o = loom(&dir, &["approve", "accept", "--shown", "00000000deadbeef"]);
    let t = expect_code(&o, 2);
    assert!(t.contains("other content"), "{t}");
    let o = loom(&dir, &["approve", "accept", "--note", "fine"]);
    let t = expect_code(&o, 0);
    assert!(
        t.contains("sent to the loom server") && t.contains("done:"),
        "{t}"
    );
    let gates: Value =
        serde_json::from_slice(&loom(&dir, &["gates", "--all", "--json"]).stdout).unwrap();
    let accept = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(
        accept["decided_by"], "tester",
        "the CLI's person decides: {accept}"
    );

    // A killed server leaves its serve.json; it blocks nothing.
    drop(server);
    assert!(dir.join(".loom/serve.json").exists());
    let o = loom(&dir, &["approve", "accept"]);
    let t = expect_code(&o, 2);
    assert!(!t.contains("sent to the loom server"), "{t}");
    assert_replays_identically(&dir);
}

/// The `value` of the first `<input name="NAME" value="…">` in `page`.
pub(crate) fn input_value(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

#[test]
fn the_dashboard_logs_in_once_escapes_what_it_shows_and_decides_with_a_csrf_token() {
    let (_tmp, dir) = scripted_demo("");
    let server = Server::start(&dir);
    let login = loop {
        let line = server.lines.recv_timeout(WAIT).unwrap();
        if let Some(at) = line.find("http://") {
            if line.contains("/login?code=") {
                break line[at..].trim().to_owned();
            }
        }
    };
    let title = "<script>alert(1)</script> Fix median()";
    expect_code(&loom(&dir, &["run", title]), 10);

    let http = reqwest::blocking::Client::builder()
        .timeout(WAIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        http.get(server.url("").replace("/api/v1/", "/"))
            .send()
            .unwrap()
            .status(),
        401
    );
    let r = http.get(&login).send().unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        http.get(&login).send().unwrap().status(),
        401,
        "a login link works once"
    );

    let base = format!("http://{}", server.addr);
    let r = http
        .get(format!("{base}/"))
        .header("Cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = r.text().unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<script>alert"),
        "markup in a title is shown as text: {page}"
    );
    assert!(page.contains("gate accept"), "{page}");
    let csrf = input_value(&page, "csrf");
    let shown = input_value(&page, "shown_hash");
    let gate_id = status_json(&dir)["pending_gates"][0]["id"]
        .as_u64()
        .unwrap();
    let action = format!("{base}/gates/{gate_id}/decide");
    let form = |csrf: &str| format!("csrf={csrf}&shown_hash={shown}&approved=true");

    // Another session's token (or none) is refused; so is a foreign origin.
    let r = http
        .post(&action)
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&"0".repeat(64)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(&action)
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&csrf))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(status_json(&dir)["pending_gates"][0]["status"], "pending");

    let r = http
        .post(&action)
        .header("Cookie", &cookie)
        .header("Origin", &base)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&csrf))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap());
    let start = Instant::now();
    while status_json(&dir)["run"]["status"] != "done" {
        assert!(start.elapsed() < WAIT, "the run never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    let gates: Value =
        serde_json::from_slice(&loom(&dir, &["gates", "--all", "--json"]).stdout).unwrap();
    let accept = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(
        (accept["decided_by"].as_str(), accept["transport"].as_str()),
        (Some("tester"), Some("web")),
        "{accept}"
    );

    // The run page: its timeline, escaped, and the live script from a file.
    let page = http
        .get(format!("{base}/runs/1"))
        .header("Cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<script src=\"/static/live.js\">") && page.contains("run done"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    let js = http.get(format!("{base}/static/live.js")).send().unwrap();
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(js.text().unwrap().contains("EventSource"));

    assert_eq!(server.stop(), Some(0));
    assert_replays_identically(&dir);
}

#[test]
fn a_forwarded_abandon_and_resume_go_to_the_server() {
    let (_tmp, dir) = scripted_demo("");
    let server = Server::start(&dir);
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );
    // Nothing to resume while a human is awaited: the server's refusal, with the CLI's code.
    let t = expect_code(&loom(&dir, &["resume"]), 2);
    assert!(t.contains("answered by the server"), "{t}");
    let t = expect_code(&loom(&dir, &["abandon", "--reason", "not now"]), 0);
    assert!(t.contains("abandoned (by the loom server"), "{t}");
    let s = status_json(&dir);
    assert!(s["task"].is_null(), "{s}");
    assert_eq!(s["run"]["status"], "abandoned", "{s}");
    assert_eq!(server.stop(), Some(0));
    assert_replays_identically(&dir);
}

/// The API as the README shows it, through curl: a token reads the status, none is refused.
#[test]
fn curl_reads_the_status_with_a_token_and_is_refused_without() {
    let (_tmp, dir) = scripted_demo("");
    let token = add_user(&dir, "ann");
    let server = Server::start(&dir);
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );
    let curl = |args: &[&str]| {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl is needed for this test (.ci/run installs it)");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let (body, code) = out.rsplit_once('\n').unwrap();
        (body.to_owned(), code.to_owned())
    };
    let url = server.url("status");
    let (body, code) = curl(&["-H", &format!("Authorization: Bearer {token}"), &url]);
    assert_eq!(code, "200", "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["pending_gates"][0]["name"], "accept", "{v}");
    let (body, code) = curl(&[&url]);
    assert_eq!(code, "401", "{body}");
    assert!(body.contains("Bearer"), "{body}");
    assert_eq!(server.stop(), Some(0));
}

/// SIGKILL the server while the implementer works, start it again, and resume through it:
/// every committed agent call was made once, and the run replays.
#[test]
fn a_server_killed_mid_run_restarts_and_the_run_resumes_with_nothing_repeated() {
    let slow = format!(
        "[[reply]]\nrole = \"implementer\"\ndelay_ms = 4000\ntext = '''\n{FIX_EVEN}\n'''\n\n"
    );
    let replies = [
        "log = \"calls.jsonl\"\n\n".to_string(),
        reply("planner", "1. fix the even case"),
        slow,
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("supervised", ""), &replies);
    let server = Server::start(&dir);
    let runner = {
        let dir = dir.clone();
        std::thread::spawn(move || loom(&dir, &["run", "Fix median() for lists of even length"]))
    };
    assert!(
        wait_for_intent(&dir, "implement", WAIT),
        "the implement step never started"
    );
    drop(server); // SIGKILL, mid-call
    let _ = runner.join();

    let server = Server::start(&dir);
    let o = loom(&dir, &["resume"]);
    let t = expect_code(&o, 10);
    assert!(t.contains("sent to the loom server"), "{t}");
    expect_code(&loom(&dir, &["approve", "accept"]), 0);
    assert_eq!(status_json(&dir)["run"]["status"], "done");
    let calls = std::fs::read_to_string(dir.join(".loom/calls.jsonl")).unwrap();
    let roles: Vec<String> = calls
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["role"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(roles, ["planner", "implementer", "reviewer"], "{calls}");
    assert_eq!(server.stop(), Some(0));
    assert_replays_identically(&dir);
}
