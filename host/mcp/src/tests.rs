#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test should panic with the reason
//! The handler in-process, through rmcp's own client over an in-memory pipe, on the testkit
//! bundle (one worker step, then gate `finish`).

use super::*;
use loom_engine::project;
use rmcp::model::{CallToolRequestParams, ClientConfig, ProgressNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::{json, Value};
use std::sync::Mutex as StdMutex;

/// A client that keeps every progress notification it gets.
#[derive(Clone, Default)]
struct Client {
    progress: Arc<StdMutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// A testkit project whose `finish` gate goes to `decider`.
fn project(decider: &str) -> tempfile::TempDir {
    slow_project(decider, 0)
}

/// The same, with a worker that takes `delay_ms` to answer.
fn slow_project(decider: &str, delay_ms: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    project::init(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("loom.toml"),
        format!(
            "default_chain = [\"scripted:replies.toml\"]\n[gates.finish]\ndecider = \"{decider}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("replies.toml"),
        format!("[[reply]]\nrole = \"worker\"\ntext = \"all done\"\ndelay_ms = {delay_ms}\n"),
    )
    .unwrap();
    dir
}

async fn connect(root: &std::path::Path) -> (RunningService<RoleClient, Client>, Client, LoomMcp) {
    let server = LoomMcp::new(root, loom_guests::TESTKIT.to_vec()).await;
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let s = server.clone();
    tokio::spawn(async move { s.serve(server_io).await.unwrap().waiting().await });
    let client = Client::default();
    let running = client.clone().serve(client_io).await.unwrap();
    (running, client, server)
}

async fn call(c: &RunningService<RoleClient, Client>, name: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    c.call_tool(params).await.unwrap()
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The error kind a failed tool carries in its `_meta`.
fn error_kind(r: &CallToolResult) -> String {
    r.meta
        .as_ref()
        .and_then(|m| m.0.get(crate::ERROR_META))
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned()
}

fn structured(r: &CallToolResult) -> Value {
    r.structured_content.clone().expect("structured content")
}

#[tokio::test]
async fn every_tool_has_an_input_and_an_output_schema() {
    let dir = project("agent");
    let (c, _, server) = connect(dir.path()).await;
    let info = c.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "loom");
    let tools = c.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "status",
        "start_task",
        "gates",
        "decide_gate",
        "log",
        "ledger_row",
        "resume",
        "fork_run",
        "abandon",
        "verify",
        "replay",
    ] {
        let t = tools.iter().find(|t| t.name == want).unwrap_or_else(|| {
            panic!("no tool {want} in {names:?}");
        });
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{want}");
        let out = t.output_schema.as_ref().unwrap_or_else(|| panic!("{want}"));
        assert_eq!(out.get("type"), Some(&json!("object")), "{want}");
        assert!(t.description.as_ref().is_some_and(|d| d.len() > 20));
    }
    let start = tools.iter().find(|t| t.name == "start_task").unwrap();
    assert_eq!(start.input_schema["required"], json!(["title"]));
    c.cancel().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn an_agent_starts_and_follows_a_task_reads_its_record_and_the_run_replays() {
    let dir = project("human");
    let (c, client, server) = connect(dir.path()).await;
    let r = call(
        &c,
        "start_task",
        json!({"title": "do the work", "wait": 60}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let out = structured(&r);
    assert_eq!(out["run"], 1);
    assert_eq!(out["status"], "waiting", "{out}");
    assert_eq!(out["at_rest"], true);
    let gate = &out["pending_gates"][0];
    assert_eq!(
        (gate["name"].as_str(), gate["decider"].as_str()),
        (Some("finish"), Some("human"))
    );
    // One notification per tick the wait saw, in order.
    let seen: Vec<f64> = client
        .progress
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.progress)
        .collect();
    assert!(!seen.is_empty(), "no progress was reported");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    // A person decides it (in-process, as the CLI would), bound to what the gate showed.
    let mut d = loom_engine::Decision::new(
        "finish",
        true,
        Some("fine"),
        loom_engine::Origin::human("tester", "cli"),
    );
    d.shown_hash = gate["shown_hash"].as_str().map(str::to_owned);
    server.engine().await.unwrap().decide(d).await.unwrap();

    // The log pages; the worker's ledger row holds its reply.
    let page = structured(&call(&c, "log", json!({"run": 1, "limit": 2})).await);
    assert_eq!(page["ticks"].as_array().unwrap().len(), 2);
    let next = page["next_since_seq"].as_u64().unwrap();
    let rest = structured(&call(&c, "log", json!({"run": 1, "since_seq": next})).await);
    assert_eq!(rest["ticks"][0]["seq"], next + 1);
    let row = rest["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page["ticks"].as_array().unwrap())
        .flat_map(|t| t["ledger"].as_array().unwrap().clone())
        .find(|l| l["kind"] == "agent")
        .expect("an agent ledger row");
    let l = call(
        &c,
        "ledger_row",
        json!({"run": 1, "key": row["key"], "attempt": row["attempt"]}),
    )
    .await;
    assert!(
        structured(&l)["result"].to_string().contains("all done"),
        "{}",
        structured(&l)
    );

    let v = structured(&call(&c, "verify", json!({})).await);
    assert_eq!(v["all_intact"], true);
    // The decision's tick may still be driving on: wait for the end, then replay.
    for _ in 0..100 {
        let s = structured(&call(&c, "status", json!({})).await);
        if s["run_status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rp = call(&c, "replay", json!({})).await;
    assert_eq!(structured(&rp)["all_identical"], true, "{}", text(&rp));
    c.cancel().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn an_agent_cannot_decide_a_humans_gate_and_nothing_is_recorded() {
    let dir = project("human");
    let (c, _, server) = connect(dir.path()).await;
    let out = structured(&call(&c, "start_task", json!({"title": "work", "wait": 60})).await);
    let gate = out["pending_gates"][0].clone();
    assert_eq!(gate["decider"], "human");
    let before = server.reader().log(Some(1)).unwrap().len();
    let r = call(
        &c,
        "decide_gate",
        json!({"gate": "finish", "approved": true, "shown_hash": gate["shown_hash"]}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert_eq!(error_kind(&r), "forbidden");
    assert!(r.structured_content.is_none());
    let t = text(&r);
    assert!(
        t.contains("loom approve finish") && t.contains("nothing was recorded"),
        "{t}"
    );
    assert_eq!(server.reader().log(Some(1)).unwrap().len(), before);
    let gates = structured(&call(&c, "gates", json!({})).await);
    assert_eq!(gates["gates"][0]["status"], "pending");

    // Resources: the status and the run's timeline.
    let res = c.list_all_resources().await.unwrap();
    let uris: Vec<&str> = res.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["loom://status", "loom://runs/1"]);
    let read = c
        .read_resource(rmcp::model::ReadResourceRequestParams::new("loom://runs/1"))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("not text");
    };
    let timeline: Value = serde_json::from_str(text).unwrap();
    assert_eq!(timeline.as_array().unwrap().len(), before);
    let missing = c
        .read_resource(rmcp::model::ReadResourceRequestParams::new("loom://runs/9"))
        .await;
    assert!(missing.is_err());

    let r = call(&c, "abandon", json!({"reason": "not today"})).await;
    assert_eq!(structured(&r)["status"], "abandoned", "{}", structured(&r));
    let s = structured(&call(&c, "status", json!({})).await);
    assert!(s["task"].is_null(), "{s}");
    assert_eq!(s["run_status"], "abandoned");
    c.cancel().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn with_another_driver_commands_say_busy_and_reads_work_and_bad_arguments_are_rpc_errors() {
    let dir = project("human");
    let other = loom_service::Service::start(dir.path(), "cli").unwrap();
    let (c, _, server) = connect(dir.path()).await;
    let r = call(&c, "start_task", json!({"title": "work"})).await;
    assert_eq!(r.is_error, Some(true));
    assert_eq!(error_kind(&r), "busy", "{}", text(&r));
    assert!(text(&r).contains("being driven by"), "{}", text(&r));
    let s = call(&c, "status", json!({})).await;
    assert_ne!(s.is_error, Some(true), "{}", text(&s));

    // Once the other driver lets go, the server drives.
    drop(other);
    let r = call(&c, "start_task", json!({"title": "work"})).await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));

    let params = CallToolRequestParams::new("start_task").with_arguments(Default::default());
    assert!(
        c.call_tool(params).await.is_err(),
        "a missing title is a JSON-RPC error"
    );
    let outside = call(&c, "replay", json!({"invariants_path": "../../etc/passwd"})).await;
    assert_eq!(outside.is_error, Some(true));
    c.cancel().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_wait_ends_at_once_and_the_run_drives_on() {
    use std::time::{Duration, Instant};
    let dir = slow_project("human", 1500);
    let server = LoomMcp::new(dir.path(), loom_guests::TESTKIT.to_vec()).await;
    let engine = server.engine().await.unwrap();
    let events = engine.subscribe();
    let origin = loom_engine::Origin::agent("t", "mcp");
    let run = engine
        .start("work", loom_guests::TESTKIT.to_vec(), None, origin)
        .await
        .unwrap();
    let ct = tokio_util::sync::CancellationToken::new();
    let cancel = ct.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let wait = Duration::from_secs(60);
    let none = wait::Progress { to: None };
    let out = wait::follow(&server.reader(), run, events, wait, &none, &ct)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(!out.at_rest, "{out:?}");
    // Cancelling the wait never cancels the run: it reaches its gate.
    let mut status = String::new();
    for _ in 0..100 {
        status = wait::snapshot(&server.reader(), run, 0)
            .await
            .unwrap()
            .status;
        if status != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "waiting");
    server.shutdown().await;
}
