//! `loom mcp` driven by a real MCP client: the official Python SDK (PyPI `mcp`, installed by
//! `.ci/run` into `target/mcp-venv`), over stdio, in both protocol eras.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Python that has the `mcp` package: `LOOM_TEST_MCP_PYTHON`, or the venv `.ci/run` makes.
pub(crate) fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LOOM_TEST_MCP_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mcp-venv/bin/python");
    venv.is_file().then_some(venv)
}

/// Handshake era (`ClientSession.initialize()`): everything the test asserts on, as JSON.
const CLASSIC: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    loom, project = sys.argv[1], sys.argv[2]
    out = {"progress": []}
    async def on_progress(progress, total, message):
        out["progress"].append([progress, message])
    params = StdioServerParameters(command=loom, args=["mcp", "-C", project])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            out["server"] = init.server_info.name
            out["protocol"] = init.protocol_version
            tools = (await s.list_tools()).tools
            out["tools"] = {t.name: {"input": t.input_schema, "output": t.output_schema} for t in tools}
            def res(r):
                return {"is_error": r.is_error, "structured": r.structured_content, "meta": r.meta,
                        "text": "\n".join(c.text for c in r.content if c.type == "text")}
            out["start"] = res(await s.call_tool(
                "start_task", {"title": "Fix median() for lists of even length", "wait": 120},
                progress_callback=on_progress))
            gate = out["start"]["structured"]["pending_gates"][0]
            out["decide"] = res(await s.call_tool("decide_gate", {
                "gate": gate["name"], "approved": True, "shown_hash": gate["shown_hash"]}))
            out["status"] = res(await s.call_tool("status", {}))
            try:
                await s.call_tool("decide_gate", {"gate": "accept"})
                out["bad_args"] = "accepted"
            except Exception as e:
                out["bad_args"] = str(e)
            out["resources"] = [str(r.uri) for r in (await s.list_resources()).resources]
            run = await s.read_resource("loom://runs/1")
            out["timeline"] = json.loads(run.contents[0].text)
    print(json.dumps(out))

asyncio.run(main())
"#;

/// The stateless 2026-07-28 era (`mcp.Client`, auto mode: `server/discover` first).
const MODERN: &str = r#"
import asyncio, json, sys
from mcp import Client, StdioServerParameters

async def main():
    loom, project = sys.argv[1], sys.argv[2]
    async with Client(StdioServerParameters(command=loom, args=["mcp", "-C", project])) as c:
        out = {"protocol": str(c.protocol_version)}
        r = await c.call_tool("gates", {})
        out["gates"] = r.structured_content
        out["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
    print(json.dumps(out))

asyncio.run(main())
"#;

/// Runs `script` against `loom mcp` on `dir`, killing it after two minutes.
fn client(py: &Path, script: &str, dir: &Path) -> serde_json::Value {
    run_python(py, script, dir, &[LOOM, dir.to_str().unwrap()])
}

/// Runs the client `script` (saved in `dir`) with `args`, killing it after two minutes; what
/// it prints, as JSON.
pub(crate) fn run_python(py: &Path, script: &str, dir: &Path, args: &[&str]) -> serde_json::Value {
    let file = dir.join(".loom/mcp-client.py");
    std::fs::write(&file, script).unwrap();
    let mut child = Command::new(py)
        .arg(&file)
        .args(args)
        .env("USER", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "the MCP client failed:\n{t}");
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("no JSON from the client ({e}):\n{t}"))
}

#[test]
fn the_python_sdk_starts_a_task_follows_it_to_the_human_gate_and_cannot_decide_it() {
    let Some(py) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the Python MCP SDK (target/mcp-venv, see .ci/run)"
        );
        eprintln!("skipped: no Python with the `mcp` package (target/mcp-venv, see .ci/run)");
        return;
    };
    let (_tmp, dir) = scripted_demo("");
    let out = client(&py, CLASSIC, &dir);
    assert_eq!(out["server"], "loom");
    assert_eq!(out["protocol"], "2025-11-25");
    for (name, schemas) in out["tools"].as_object().unwrap() {
        assert_eq!(schemas["input"]["type"], "object", "{name}");
        assert_eq!(schemas["output"]["type"], "object", "{name}");
    }
    assert_eq!(
        out["tools"].as_object().unwrap().len(),
        11,
        "{}",
        out["tools"]
    );

    // The wait followed the run to the human `accept` gate, tick by tick.
    let start = &out["start"];
    assert_eq!(start["is_error"], false, "{start}");
    assert_eq!(start["structured"]["status"], "waiting", "{start}");
    let gate = &start["structured"]["pending_gates"][0];
    assert_eq!(
        (gate["name"].as_str(), gate["decider"].as_str()),
        (Some("accept"), Some("human"))
    );
    assert!(
        out["progress"].as_array().unwrap().len() >= 5,
        "{}",
        out["progress"]
    );

    // The agent cannot decide it; it is told where a person can; nothing was recorded.
    let decide = &out["decide"];
    assert_eq!(decide["is_error"], true, "{decide}");
    assert_eq!(decide["meta"]["loom/error"], "forbidden", "{decide}");
    let said = decide["text"].as_str().unwrap();
    assert!(said.contains("loom approve accept"), "{said}");
    assert_eq!(out["status"]["structured"]["run_status"], "waiting");
    assert!(
        out["bad_args"].as_str().unwrap() != "accepted",
        "{}",
        out["bad_args"]
    );
    assert_eq!(
        out["resources"],
        serde_json::json!(["loom://status", "loom://runs/1"])
    );
    let timeline = out["timeline"].as_array().unwrap();
    assert!(timeline
        .iter()
        .all(|e| e["tick"]["kind"] != "decision" || e["tick"]["step"] != "accept"));

    let gates = loom(&dir, &["gates", "--json", "--all"]);
    let gates: serde_json::Value = serde_json::from_slice(&gates.stdout).unwrap();
    let accept = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(accept["status"], "pending", "{accept}");
    assert!(accept["decided_by"].is_null(), "{accept}");

    // The stateless protocol era reads the same project.
    let modern = client(&py, MODERN, &dir);
    assert_eq!(modern["protocol"], "2026-07-28", "{modern}");
    assert_eq!(modern["gates"]["gates"][0]["name"], "accept", "{modern}");

    // A person approves through the CLI once the MCP server has let go of the project.
    let o = loom(&dir, &["approve", "accept", "--note", "looks right"]);
    expect_code(&o, 0);
    assert_eq!(status_json(&dir)["run"]["status"], "done");
    assert_replays_identically(&dir);
}

/// An agent gate a rule refused the engine's own agent: the MCP agent may decide it.
const AGENT_GATE: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    loom, project = sys.argv[1], sys.argv[2]
    out = {}
    params = StdioServerParameters(command=loom, args=["mcp", "-C", project])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            def res(r):
                return {"is_error": r.is_error, "structured": r.structured_content, "meta": r.meta,
                        "text": "\n".join(c.text for c in r.content if c.type == "text")}
            out["start"] = res(await s.call_tool("start_task", {"title": "Fix median()", "wait": 120}))
            gate = out["start"]["structured"]["pending_gates"][0]
            out["stale"] = res(await s.call_tool("decide_gate", {
                "gate": gate["name"], "approved": True, "shown_hash": "00000000dead"}))
            out["decide"] = res(await s.call_tool("decide_gate", {
                "gate": gate["name"], "approved": False, "note": "empty lists first",
                "shown_hash": gate["shown_hash"]}))
            for _ in range(100):
                st = res(await s.call_tool("status", {}))
                if st["structured"]["run_status"] != "running":
                    break
                await asyncio.sleep(0.1)
            out["status"] = st
    print(json.dumps(out))

asyncio.run(main())
"#;

#[test]
fn the_python_sdk_decides_a_gate_the_policy_gives_to_an_agent() {
    let Some(py) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the Python MCP SDK"
        );
        eprintln!("skipped: no Python with the `mcp` package (target/mcp-venv, see .ci/run)");
        return;
    };
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply(
            "reviewer",
            r#"{"findings": [{"severity": "blocking", "text": "median([]) raises IndexError", "path": "stats.py"}]}"#,
        ),
        reply("reviewer", "APPROVE"),
    ]
    .concat();
    let (_tmp, dir) = project(
        &config("autonomous", "[bundle]\nmax-fix-rounds = 0"),
        &replies,
    );
    let out = client(&py, AGENT_GATE, &dir);
    let start = &out["start"]["structured"];
    assert_eq!(start["status"], "stopped", "{}", out["start"]);
    assert_eq!(start["pending_gates"][0]["decider"], "agent", "{start}");
    assert_eq!(out["stale"]["is_error"], true);
    assert_eq!(
        out["stale"]["meta"]["loom/error"], "conflict",
        "{}",
        out["stale"]
    );
    assert_eq!(out["decide"]["is_error"], false, "{}", out["decide"]);

    let gates = loom(&dir, &["gates", "--json", "--all"]);
    let gates: serde_json::Value = serde_json::from_slice(&gates.stdout).unwrap();
    let accept = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(accept["status"], "rejected", "{accept}");
    assert_eq!(accept["transport"], "mcp", "{accept}");
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let decision = log
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tick"]["kind"] == "decision" && t["tick"]["step"] == "accept")
        .unwrap();
    assert_eq!(
        decision["tick"]["decider"], "agent",
        "recorded as an agent's decision"
    );
    assert_replays_identically(&dir);
}
