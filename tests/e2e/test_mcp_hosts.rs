//! `loom mcp` under real MCP hosts, not hand-written JSON: the Claude Code CLI (its model played
//! by a loopback fake of the Anthropic Messages API) and the MCP Inspector CLI.
//!
//! Both need a client that `cargo test --workspace` cannot assume on every machine, so they are
//! `#[ignore]`d and `.ci/run` runs them with `--ignored` after fetching the clients. Run that way,
//! a missing client is a failure naming what to install, never a silent pass; only
//! `LOOM_SKIP_HOST_TESTS=1` turns them into a skip.
//!
//! - Claude Code: `LOOM_TEST_REAL_CLAUDE=/path/to/claude` (`.ci/fetch-claude` fetches it).
//! - The Inspector: `LOOM_TEST_MCP_INSPECTOR=/path/to/mcp-inspector`, or the copy `.ci/run`
//!   installs into `target/mcp-inspector`.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one host run may take before it is killed (a cold CLI start is a few seconds).
const HOST_WAIT: Duration = Duration::from_secs(120);

/// The loom tools every host must see, sorted.
const TOOLS: [&str; 11] = [
    "abandon",
    "decide_gate",
    "fork_run",
    "gates",
    "ledger_row",
    "log",
    "replay",
    "resume",
    "start_task",
    "status",
    "verify",
];

const TITLE: &str = "Fix median() for lists of even length";

/// The client at `env_var` (or `default`), or `None` when `LOOM_SKIP_HOST_TESTS=1` says to skip.
/// A missing client is a failure: these tests exist to prove the real hosts work.
fn host(what: &str, env_var: &str, default: Option<PathBuf>, install: &str) -> Option<PathBuf> {
    if std::env::var("LOOM_SKIP_HOST_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped (LOOM_SKIP_HOST_TESTS=1): the test with {what}");
        return None;
    }
    let path = std::env::var_os(env_var).map(PathBuf::from).or(default);
    match path {
        Some(p) if p.is_file() => Some(p),
        Some(p) => panic!(
            "{what} not found at {} ({env_var}); {install}, or set LOOM_SKIP_HOST_TESTS=1 to skip",
            p.display()
        ),
        None => panic!("{what}: set {env_var} ({install}), or LOOM_SKIP_HOST_TESTS=1 to skip"),
    }
}

/// The demo project, driven by `loom demo` to its human `accept` gate (exit 10: waiting).
/// Returns (temp dir, project, the gate's shown hash).
fn demo_at_accept_gate() -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    expect_code(&loom(tmp.path(), &["demo", dir.to_str().unwrap()]), 10);
    let gates: Value = serde_json::from_slice(&loom(&dir, &["gates", "--json"]).stdout).unwrap();
    let gate = &gates[0];
    assert_eq!(
        (&gate["name"], &gate["decider"], &gate["status"]),
        (&json!("accept"), &json!("human"), &json!("pending")),
        "{gates}"
    );
    let hash = gate["shown_hash"].as_str().unwrap().to_string();
    (tmp, dir, hash)
}

/// Runs `cmd` to its end, killing it after [`HOST_WAIT`] (polled, so a fast run returns at once).
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes on threads: a host that writes more than a pipe holds must not stall.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        err.read_to_end(&mut b).map(|_| b)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > HOST_WAIT {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

/// Waits until no process holds the project's driver lock: each host run starts its own
/// `loom mcp`, which lets go when the host closes its stdin, a moment after the host exits.
fn wait_for_no_driver(dir: &Path) {
    let start = Instant::now();
    loop {
        let s = status_json(dir);
        if s["driver"].is_null() {
            return;
        }
        assert!(start.elapsed() < HOST_WAIT, "the driver never let go: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Claude Code as the host

/// A request the fake API received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    body: Value,
}

/// A loopback fake of the Anthropic Messages API playing the model: on the turn that offers
/// `tool` (its `tools` list holds it) and has no tool result yet it answers with one `tool_use`
/// block calling it with `input`; every other messages request gets a short text. It speaks the
/// wire format exactly (SSE when the request says `stream: true`, else one JSON message), since
/// the CLI parses it as it would the real API's. It serves until dropped.
struct FakeApi {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

/// The id the fake gives its tool_use block, to find the CLI's answer to it.
const TOOL_USE_ID: &str = "toolu_loom_host_1";
/// What the fake says once it has the tool's result.
const FINAL_TEXT: &str = "loom answered.";
/// A bound on the requests one CLI run may make (it makes two or three).
const REQUESTS_MAX: usize = 64;

impl FakeApi {
    fn start(tool: &str, input: Value) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, tool) = (seen.clone(), stop.clone(), tool.to_string());
        // Not joined: it ends when the fake is dropped. Each connection has its own thread, since
        // the CLI may keep one connection open while it makes another request.
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, tool, input) = (seen2.clone(), tool.clone(), input.clone());
                        std::thread::spawn(move || serve(stream, &seen, &tool, &input));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeApi { base, seen, stop }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every request, shortened, for a failure message.
    fn transcript(&self) -> String {
        self.seen()
            .iter()
            .map(|s| {
                let b = s.body.to_string();
                let cut = b.char_indices().nth(2000).map_or(b.len(), |(i, _)| i);
                format!("{} {}\n", s.path, &b[..cut])
            })
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves one connection: requests one after another (keep-alive) until the client closes it.
fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, tool: &str, input: &Value) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(HOST_WAIT)).is_err() {
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    for _ in 0..REQUESTS_MAX {
        let Some((method, path, body)) = read_request(&mut reader) else {
            return;
        };
        let reply = {
            let mut seen = seen.lock().unwrap();
            if seen.len() >= REQUESTS_MAX {
                return;
            }
            seen.push(Seen {
                path: path.clone(),
                body: body.clone(),
            });
            answer(&method, &path, &body, tool, input)
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Value)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut length = 0;
    for _ in 0..200 {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((
        method,
        path,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ))
}

/// Whether any message of `body` carries a `tool_result` block.
fn has_tool_result(body: &Value) -> bool {
    tool_results(body).next().is_some()
}

fn tool_results(body: &Value) -> impl Iterator<Item = &Value> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
}

fn offers(body: &Value, tool: &str) -> bool {
    body["tools"]
        .as_array()
        .is_some_and(|ts| ts.iter().any(|t| t["name"] == tool))
}

/// The whole HTTP response to one request.
fn answer(method: &str, path: &str, body: &Value, tool: &str, input: &Value) -> String {
    let route = path.split('?').next().unwrap_or(path);
    let (status, content_type, payload) = match (method, route) {
        ("POST", "/v1/messages/count_tokens") => (
            200,
            "application/json",
            json!({"input_tokens": 100}).to_string(),
        ),
        ("POST", "/v1/messages") => {
            let model = body["model"].as_str().unwrap_or("claude-sonnet-4-5");
            let block = if offers(body, tool) && !has_tool_result(body) {
                json!({"type": "tool_use", "id": TOOL_USE_ID, "name": tool, "input": input})
            } else {
                json!({"type": "text", "text": FINAL_TEXT})
            };
            if body["stream"] == true {
                (200, "text/event-stream", sse_message(model, &block))
            } else {
                (200, "application/json", json_message(model, &block))
            }
        }
        _ => (
            404,
            "application/json",
            json!({"type": "error", "error": {"type": "not_found_error", "message": route}})
                .to_string(),
        ),
    };
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         request-id: req_fake\r\n\r\n{payload}",
        payload.len()
    )
}

fn stop_reason(block: &Value) -> &'static str {
    if block["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn json_message(model: &str, block: &Value) -> String {
    json!({
        "id": "msg_fake_host", "type": "message", "role": "assistant", "model": model,
        "content": [block], "stop_reason": stop_reason(block), "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 3,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    })
    .to_string()
}

/// The streamed form: the block starts empty and its content comes as one delta, as the API does.
fn sse_message(model: &str, block: &Value) -> String {
    let (start, delta) = if block["type"] == "tool_use" {
        (
            json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
            json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
        )
    } else {
        (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": block["text"]}),
        )
    };
    let events = [
        json!({"type": "message_start", "message": {
            "id": "msg_fake_host", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": start}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop_reason(block), "stop_sequence": null},
               "usage": {"output_tokens": 3}}),
        json!({"type": "message_stop"}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

/// `claude -p PROMPT` with loom as its only MCP server, allowed to call `tool` and nothing else,
/// against `api`. Returns the CLI's output.
fn claude(cli: &Path, api: &FakeApi, dir: &Path, tool: &str, prompt: &str) -> Output {
    let home = dir.parent().unwrap().join("claude-home");
    std::fs::create_dir_all(&home).unwrap();
    let mcp = json!({"mcpServers": {"loom": {
        "type": "stdio", "command": LOOM, "args": ["mcp", "-C", dir]}}});
    let mut cmd = Command::new(cli);
    cmd.args(["-p", prompt, "--mcp-config"])
        .arg(mcp.to_string())
        .args(["--strict-mcp-config", "--allowedTools", tool])
        .args(["--output-format", "json", "--model", "claude-sonnet-4-5"])
        .args(["--max-turns", "3"])
        // Nothing of the developer's own setup (keys, tokens, settings) reaches the CLI.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("USER", "tester")
        .env("ANTHROPIC_BASE_URL", &api.base)
        .env("ANTHROPIC_API_KEY", "sk-ant-fake")
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        // Without this the CLI defers MCP tools behind its ToolSearch tool and sends only
        // their names; with it, the request carries loom's tools with their schemas, as a
        // host with few tools does, and the test can check what the model was offered.
        .env("ENABLE_TOOL_SEARCH", "false")
        .current_dir(dir.parent().unwrap());
    run_bounded(cmd)
}

/// The CLI ran to a successful end; returns its result JSON.
#[track_caller]
fn claude_succeeded(o: &Output, api: &FakeApi) -> Value {
    let t = text(o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the CLI failed:\n{t}\nrequests:\n{}",
        api.transcript()
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("the CLI printed no JSON ({e}):\n{t}"));
    assert_eq!(v["is_error"], false, "{v}");
    assert_eq!(v["subtype"], "success", "{v}");
    assert_eq!(v["result"], FINAL_TEXT, "{v}");
    v
}

/// The request on which the fake played `tool`: it must have offered loom's tools, by their
/// MCP names, with loom's input schemas.
#[track_caller]
fn tool_turn(api: &FakeApi, tool: &str) -> Seen {
    let seen = api.seen();
    let turn = seen
        .iter()
        .find(|s| offers(&s.body, tool) && !has_tool_result(&s.body))
        .unwrap_or_else(|| panic!("no request offered {tool}:\n{}", api.transcript()))
        .clone();
    let mut offered: Vec<&str> = turn.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str()?.strip_prefix("mcp__loom__"))
        .collect();
    offered.sort_unstable();
    assert_eq!(offered, TOOLS, "the host did not offer all of loom's tools");
    let decide = turn.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "mcp__loom__decide_gate")
        .unwrap();
    let required = &decide["input_schema"]["required"];
    for arg in ["gate", "approved", "shown_hash"] {
        assert!(
            required.as_array().unwrap().contains(&json!(arg)),
            "{decide}"
        );
    }
    turn
}

/// The CLI's answer to the fake's tool_use: (is_error, every text it holds, joined).
#[track_caller]
fn tool_result(api: &FakeApi) -> (bool, String) {
    let seen = api.seen();
    let block = seen
        .iter()
        .flat_map(|s| tool_results(&s.body))
        .find(|b| b["tool_use_id"] == TOOL_USE_ID)
        .unwrap_or_else(|| {
            panic!(
                "the CLI never sent a tool_result for {TOOL_USE_ID}:\n{}",
                api.transcript()
            )
        })
        .clone();
    // The content is a string or a list of blocks; both are valid on the wire.
    let text = match &block["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("a tool_result content of an unexpected shape: {other}"),
    };
    (block["is_error"] == true, text)
}

#[test]
#[ignore = "needs the real Claude Code CLI: LOOM_TEST_REAL_CLAUDE (.ci/run sets it)"]
fn claude_code_calls_loom_status_and_cannot_approve_the_human_gate() {
    let Some(cli) = host(
        "the Claude Code CLI",
        "LOOM_TEST_REAL_CLAUDE",
        None,
        "fetch it with `python3 .ci/fetch-claude target/ci-claude`",
    ) else {
        return;
    };
    let (_tmp, dir, hash) = demo_at_accept_gate();
    let ticks = status_json(&dir)["run"]["last_seq"].as_u64().unwrap() as usize;

    // The model asks for loom's status; the CLI calls loom and hands back what loom said.
    let api = FakeApi::start("mcp__loom__status", json!({}));
    let o = claude(&cli, &api, &dir, "mcp__loom__status", "What is loom doing?");
    claude_succeeded(&o, &api);
    tool_turn(&api, "mcp__loom__status");
    let (is_error, said) = tool_result(&api);
    assert!(!is_error, "{said}");
    for part in [TITLE, "waiting", "accept", "human", hash.as_str()] {
        assert!(said.contains(part), "no {part:?} in loom's status:\n{said}");
    }
    drop(api);
    wait_for_no_driver(&dir);

    // The model tries to approve the human's gate, with the right hash: refused, nothing recorded.
    let input = json!({"gate": "accept", "approved": true, "shown_hash": hash});
    let api = FakeApi::start("mcp__loom__decide_gate", input);
    let o = claude(
        &cli,
        &api,
        &dir,
        "mcp__loom__decide_gate",
        "Approve loom's accept gate.",
    );
    claude_succeeded(&o, &api);
    tool_turn(&api, "mcp__loom__decide_gate");
    let (is_error, said) = tool_result(&api);
    assert!(is_error, "the approval was not refused:\n{said}");
    for part in [
        "gate accept is for a human",
        "nothing was recorded",
        "loom approve accept",
    ] {
        assert!(said.contains(part), "no {part:?} in the refusal:\n{said}");
    }
    drop(api);
    wait_for_no_driver(&dir);

    let gates: Value =
        serde_json::from_slice(&loom(&dir, &["gates", "--json", "--all"]).stdout).unwrap();
    let accept = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(accept["status"], "pending", "{accept}");
    assert!(accept["decided_by"].is_null(), "{accept}");
    let log: Value = serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let log = log.as_array().unwrap();
    assert!(
        log.iter()
            .all(|t| t["tick"]["kind"] != "decision" || t["tick"]["step"] != "accept"),
        "a decision on accept was recorded: {log:?}"
    );
    // Not a tick more than `loom demo` left: two host sessions only read.
    assert_eq!(log.len(), ticks, "{log:?}");
    let s = status_json(&dir);
    assert_eq!(
        (&s["run"]["status"], &s["run"]["last_seq"]),
        (&json!("waiting"), &json!(ticks)),
        "{s}"
    );
    assert_replays_identically(&dir);
}

// ---------------------------------------------------------------------------------------------
// The MCP Inspector CLI

/// `mcp-inspector --cli loom mcp -C DIR ARGS…`: its stdout as JSON, after it exits 0.
fn inspector(bin: &Path, dir: &Path, args: &[&str]) -> Value {
    let (code, v) = inspector_exit(bin, dir, args);
    assert_eq!(code, Some(0), "the Inspector failed:\n{v}");
    v
}

/// The same, whatever it exits with (it exits 1 on a tool's error result).
fn inspector_exit(bin: &Path, dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    // Its catalog defaults to ~/.mcp-inspector: keep that in the test's own home.
    let home = dir.parent().unwrap().join("inspector-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--cli")
        .arg(LOOM)
        .args(["mcp", "-C"])
        .arg(dir)
        .args(args)
        .env("HOME", &home)
        .env("USER", "tester");
    let o = run_bounded(cmd);
    let t = text(&o);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("the Inspector printed no JSON ({e}):\n{t}"));
    (o.status.code(), v)
}

#[test]
#[ignore = "needs the MCP Inspector: target/mcp-inspector (.ci/run installs it)"]
fn the_inspector_cli_lists_loom_tools_calls_status_and_is_refused_the_human_gate() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/mcp-inspector/node_modules/.bin/mcp-inspector");
    let Some(bin) = host(
        "the MCP Inspector CLI",
        "LOOM_TEST_MCP_INSPECTOR",
        Some(default),
        "install it with `npm install --prefix target/mcp-inspector \
         @modelcontextprotocol/inspector@2.12.0` (as .ci/run does)",
    ) else {
        return;
    };
    let (_tmp, dir, hash) = demo_at_accept_gate();

    let listed = inspector(&bin, &dir, &["--method", "tools/list"]);
    let tools = listed["tools"].as_array().expect("a tools list");
    let mut names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS, "{listed}");
    for t in tools {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert_eq!(t["outputSchema"]["type"], "object", "{t}");
        assert!(
            t["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{t}"
        );
    }
    wait_for_no_driver(&dir);

    let called = inspector(
        &bin,
        &dir,
        &["--method", "tools/call", "--tool-name", "status"],
    );
    assert_eq!(called["isError"], false, "{called}");
    let s = &called["structuredContent"];
    assert_eq!(s["run"], 1, "{called}");
    assert_eq!(s["run_status"], "waiting", "{called}");
    assert_eq!(s["task"], TITLE, "{called}");
    let gate = &s["pending_gates"][0];
    assert_eq!(
        (&gate["name"], &gate["decider"], &gate["shown_hash"]),
        (&json!("accept"), &json!("human"), &json!(hash)),
        "{called}"
    );
    let said = called["content"][0]["text"].as_str().unwrap_or_default();
    for part in [TITLE, "waiting", "loom approve accept"] {
        assert!(
            said.contains(part),
            "no {part:?} in the status text:\n{said}"
        );
    }
    wait_for_no_driver(&dir);

    // An approval of the human's gate: refused with loom's own message, which the Inspector
    // shows as the tool's error (its kind in `_meta`, no success-shaped content), and nothing
    // is recorded.
    let gate_arg = "gate=accept".to_string();
    let hash_arg = format!("shown_hash={hash}");
    let (_, refused) = inspector_exit(
        &bin,
        &dir,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "decide_gate",
            "--tool-arg",
            &gate_arg,
            "--tool-arg",
            "approved=true",
            "--tool-arg",
            &hash_arg,
        ],
    );
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(refused["_meta"]["loom/error"], "forbidden", "{refused}");
    let said = refused["content"][0]["text"].as_str().unwrap_or_default();
    assert!(said.contains("loom approve accept"), "{refused}");
    wait_for_no_driver(&dir);
    let gates: Value = serde_json::from_slice(&loom(&dir, &["gates", "--json"]).stdout).unwrap();
    assert_eq!(gates[0]["name"], "accept", "{gates}");
    assert_eq!(gates[0]["status"], "pending", "{gates}");
    assert_replays_identically(&dir);
}
