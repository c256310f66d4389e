//! MCP beyond stdio: the same server over Streamable HTTP at `/mcp` on `loom serve` (behind
//! its tokens), and a human gate decided by the person at the client through elicitation.
//! Both with the official Python SDK, as in `test_mcp`.

use crate::common::*;
use crate::test_mcp::{python, run_python};
use crate::test_serve::{add_user, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Over HTTP, both eras: the handshake (`ClientSession` on `streamable_http_client`) and the
/// stateless one (`mcp.Client`, auto mode), each with the user's bearer token.
const HTTP: &str = r#"
import asyncio, json, sys
import httpx2
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

def res(r):
    return {"is_error": r.is_error, "structured": r.structured_content, "meta": r.meta,
            "text": "\n".join(c.text for c in r.content if c.type == "text")}

async def main():
    url, token = sys.argv[1], sys.argv[2]
    headers = {"Authorization": "Bearer " + token}
    out = {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                out["protocol"] = init.protocol_version
                out["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
                gate = (await s.call_tool("gates", {})).structured_content["gates"][0]
                out["gate"] = gate
                out["decide"] = res(await s.call_tool("decide_gate", {
                    "gate": gate["name"], "approved": True, "shown_hash": gate["shown_hash"]}))
                out["log"] = res(await s.call_tool("log", {}))
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            out["modern_protocol"] = str(c.protocol_version)
            out["modern_gates"] = (await c.call_tool("gates", {})).structured_content
    print(json.dumps(out))

asyncio.run(main())
"#;

/// Over stdio to `loom mcp` while `loom serve` drives: relayed to the server's `/mcp`, so a
/// command that drives works (rather than `busy`), with progress, on the server's engine.
const RELAYED: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

def res(r):
    return {"is_error": r.is_error, "structured": r.structured_content, "meta": r.meta,
            "text": "\n".join(c.text for c in r.content if c.type == "text")}

async def main():
    loom, project = sys.argv[1], sys.argv[2]
    out = {"progress": []}
    async def on_progress(progress, total, message):
        out["progress"].append([progress, message])
    params = StdioServerParameters(command=loom, args=["mcp", "-C", project])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            out["server"] = (await s.initialize()).server_info.name
            out["start"] = res(await s.call_tool(
                "start_task", {"title": "Fix median() for lists of even length", "wait": 120},
                progress_callback=on_progress))
            out["status"] = res(await s.call_tool("status", {}))
    print(json.dumps(out))

asyncio.run(main())
"#;

/// Over stdio: a client without the elicitation capability is refused; one with it asks its
/// person, who declines once and then approves (while the agent asked to reject).
const ELICIT: &str = r#"
import asyncio, json, sys
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

def res(r):
    return {"is_error": r.is_error, "structured": r.structured_content, "meta": r.meta,
            "text": "\n".join(c.text for c in r.content if c.type == "text")}

async def main():
    loom, project = sys.argv[1], sys.argv[2]
    params = StdioServerParameters(command=loom, args=["mcp", "-C", project])
    out = {"asked": []}
    answers = [types.ElicitResult(action="decline"),
               types.ElicitResult(action="accept",
                                  content={"decision": "approve", "reason": "read it, fine"})]
    async def person(ctx, p):
        out["asked"].append({"message": p.message, "schema": p.requested_schema})
        return answers.pop(0)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            out["start"] = res(await s.call_tool(
                "start_task", {"title": "Fix median() for lists of even length", "wait": 120}))
            gate = out["start"]["structured"]["pending_gates"][0]
            out["gate"] = gate
            out["no_capability"] = res(await s.call_tool("decide_gate", {
                "gate": "accept", "approved": True, "shown_hash": gate["shown_hash"]}))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=person) as s:
            await s.initialize()
            args = {"gate": "accept", "approved": False, "note": "the agent says no",
                    "shown_hash": gate["shown_hash"]}
            out["declined"] = res(await s.call_tool("decide_gate", args))
            out["decided"] = res(await s.call_tool("decide_gate", args))
            # The engine drives on after the decision: follow it to its end.
            for _ in range(300):
                out["status"] = res(await s.call_tool("status", {}))
                if out["status"]["structured"]["run_status"] in ("done", "failed", "stopped"):
                    break
                await asyncio.sleep(0.1)
    print(json.dumps(out))

asyncio.run(main())
"#;

fn sdk() -> Option<PathBuf> {
    let py = python();
    if py.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the Python MCP SDK (target/mcp-venv, see .ci/run)"
        );
        eprintln!("skipped: no Python with the `mcp` package (target/mcp-venv, see .ci/run)");
    }
    py
}

/// The `accept` gate as `loom gates --all --json` shows it.
fn accept_gate(dir: &Path) -> Value {
    let gates = loom(dir, &["gates", "--json", "--all"]);
    let gates: Value = serde_json::from_slice(&gates.stdout).unwrap();
    gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .cloned()
        .unwrap()
}

#[test]
fn mcp_over_http_on_loom_serve_drives_the_shared_engine_and_cannot_decide_a_human_gate() {
    let Some(py) = sdk() else { return };
    let (_tmp, dir) = scripted_demo("");
    let token = add_user(&dir, "ann");
    let server = Server::start(&dir);
    let url = format!("http://{}/mcp", server.addr);

    // No token, a wrong token, a foreign Origin: refused before MCP sees anything.
    let http = reqwest::blocking::Client::new();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let post = |auth: Option<&str>, origin: Option<&str>| {
        let mut r = http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(init);
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(post(None, None), 401);
    assert_eq!(post(Some("not-a-token"), None), 401);
    assert_eq!(post(Some(&token), Some("http://evil.example")), 403);

    // `loom mcp` on stdio relays to the server: the task starts on the server's engine.
    let relayed = run_python(&py, RELAYED, &dir, &[LOOM, dir.to_str().unwrap()]);
    assert_eq!(relayed["server"], "loom", "{relayed}");
    let start = &relayed["start"];
    assert_eq!(start["is_error"], false, "{start}");
    assert_eq!(start["structured"]["status"], "waiting", "{start}");
    assert_eq!(start["structured"]["pending_gates"][0]["name"], "accept");
    assert!(
        relayed["progress"].as_array().unwrap().len() >= 5,
        "{}",
        relayed["progress"]
    );
    let said = relayed["status"]["text"].as_str().unwrap();
    assert!(said.contains("loom serve"), "driven by the server: {said}");

    let out = run_python(&py, HTTP, &dir, &[&url, &token]);
    assert_eq!(out["protocol"], "2025-11-25", "{out}");
    assert_eq!(
        out["tools"].as_array().unwrap().len(),
        11,
        "{}",
        out["tools"]
    );
    assert_eq!(out["gate"]["name"], "accept", "{out}");
    let decide = &out["decide"];
    assert_eq!(decide["is_error"], true, "{decide}");
    assert_eq!(decide["meta"]["loom/error"], "forbidden", "{decide}");
    assert!(
        out["log"]["text"].as_str().unwrap().contains("gate-open"),
        "{}",
        out["log"]
    );
    assert_eq!(out["modern_protocol"], "2026-07-28", "{out}");
    assert_eq!(out["modern_gates"]["gates"][0]["name"], "accept", "{out}");

    // The task ran on the server's own engine (one driver), and nothing was decided.
    let accept = accept_gate(&dir);
    assert_eq!(accept["status"], "pending", "{accept}");
    // A person decides over the CLI, forwarded to the same server.
    let o = loom(&dir, &["approve", "accept", "--note", "fine"]);
    expect_code(&o, 0);
    assert_eq!(status_json(&dir)["run"]["status"], "done");
    assert_eq!(server.stop(), Some(0));
    assert_replays_identically(&dir);
}

#[test]
fn with_elicitation_the_person_at_the_client_decides_a_human_gate_and_is_recorded_as_human() {
    let Some(py) = sdk() else { return };
    let (_tmp, dir) = scripted_demo("[mcp]\nhuman_gates = \"elicit\"\n");
    let out = run_python(&py, ELICIT, &dir, &[LOOM, dir.to_str().unwrap()]);

    // Without the capability: the plain refusal, nothing recorded.
    let refused = &out["no_capability"];
    assert_eq!(refused["is_error"], true, "{refused}");
    assert_eq!(refused["meta"]["loom/error"], "forbidden", "{refused}");

    // The form showed exactly the gate's text, and asked approve or reject.
    let asked = out["asked"].as_array().unwrap();
    assert_eq!(asked.len(), 2, "{}", out["asked"]);
    let gate = &out["gate"];
    let shown = gate["summary"].as_str().unwrap();
    assert!(!shown.is_empty(), "{gate}");
    for a in asked {
        assert!(
            a["message"].as_str().unwrap().ends_with(shown),
            "the form must show the gate's text: {a}"
        );
        let choices: Vec<&str> = a["schema"]["properties"]["decision"]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{a}"))
            .iter()
            .filter_map(|c| c["const"].as_str())
            .collect();
        assert_eq!(choices, ["approve", "reject"], "{a}");
        assert_eq!(
            a["schema"]["required"],
            serde_json::json!(["decision"]),
            "{a}"
        );
    }
    // Declined: nothing recorded.
    assert_eq!(out["declined"]["is_error"], true, "{}", out["declined"]);
    assert!(
        out["declined"]["text"]
            .as_str()
            .unwrap()
            .contains("declined"),
        "{}",
        out["declined"]
    );
    // Approved by the person although the agent asked to reject: recorded as the person's.
    assert_eq!(out["decided"]["is_error"], false, "{}", out["decided"]);
    let accept = accept_gate(&dir);
    assert_eq!(accept["status"], "approved", "{accept}");
    assert_eq!(accept["transport"], "mcp-elicitation", "{accept}");
    assert_eq!(accept["note"], "read it, fine", "{accept}");
    let log: Value = serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let decisions: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["tick"]["kind"] == "decision" && t["tick"]["step"] == "accept")
        .collect();
    assert_eq!(decisions.len(), 1, "one decision, the person's");
    assert_eq!(decisions[0]["tick"]["decider"], "human");
    assert_eq!(
        out["status"]["structured"]["run_status"], "done",
        "{}",
        out["status"]
    );
    assert_replays_identically(&dir);
}
