//! Forking a recorded run (time travel), through the real `loom` binary: the fork's ticks up
//! to the fork point re-execute the parent's from the record (the scripted provider's call log
//! proves no call is made), the working tree goes back to that tick, what changes at the fork
//! point takes effect after it, `verify` proves the shared prefix, and replay reproduces both
//! runs. A bundle that would not reproduce the prefix is refused, and a kill during the prefix
//! or the live part is finished by `loom resume` with nothing repeated.

use crate::common::*;
use std::path::Path;

/// The demo with a call log and replies for two passes (the second after a rejection).
fn demo_with_log() -> (tempfile::TempDir, std::path::PathBuf) {
    demo_under("supervised")
}

fn demo_under(policy: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let replies = [
        "log = \"calls.jsonl\"\n\n".to_owned(),
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("implementer", ADD_TEST),
        reply("reviewer", r#"{"findings": []}"#),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    project(&config(policy, ""), &replies)
}

/// The calls the scripted provider answered, by role, in order.
fn calls(dir: &Path) -> Vec<String> {
    let path = dir.join(".loom/calls.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["role"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn log_json(dir: &Path, run: u64) -> Vec<serde_json::Value> {
    let o = loom(dir, &["log", "--run", &run.to_string(), "--json"]);
    let t = expect_code(&o, 0);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {t}"));
    v.as_array().unwrap().clone()
}

/// The seq of run `run`'s tick that opened the pending gate `name` (the last one so named).
fn gate_tick(dir: &Path, run: u64, name: &str) -> u64 {
    log_json(dir, run)
        .iter()
        .filter(|e| e["tick"]["kind"] == "gate-open" && e["tick"]["step"] == name)
        .map(|e| e["tick"]["seq"].as_u64().unwrap())
        .next_back()
        .unwrap_or_else(|| panic!("no gate-open tick for {name} in run {run}"))
}

fn runs(dir: &Path) -> Vec<serde_json::Value> {
    let o = loom(dir, &["runs", "--json"]);
    let t = expect_code(&o, 0);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {t}"));
    v.as_array().unwrap().clone()
}

#[test]
fn fork_before_accept_and_reject_instead_goes_back_to_fixing() {
    let (_tmp, dir) = demo_with_log();
    // The parent: one pass, accepted.
    let t = expect_code(
        &loom(&dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    assert!(t.contains("accept"), "{t}");
    let at = gate_tick(&dir, 1, "accept");
    expect_code(&loom(&dir, &["approve", "accept"]), 0);
    let before = calls(&dir);
    assert_eq!(before, ["planner", "implementer", "reviewer"]);
    let fixed = std::fs::read_to_string(dir.join("stats.py")).unwrap();

    // Fork just before the decision, with new wording and the settings the config has now:
    // the fork waits at the same gate, nothing was called, and the tree (whose fix came
    // before the fork point) is left as it is.
    let mut cfg = std::fs::read_to_string(dir.join("loom.toml")).unwrap();
    cfg.push_str("\n[bundle]\nmax-fix-rounds = 5\n");
    std::fs::write(dir.join("loom.toml"), cfg).unwrap();
    let task = "fix the median of even-length lists, tested on two values";
    let t = expect_code(
        &loom(
            &dir,
            &["fork", "1", "--at", &at.to_string(), "--settings", task],
        ),
        10,
    );
    assert!(t.contains("run #2 forked from run #1 after tick"), "{t}");
    assert_eq!(calls(&dir), before, "the prefix called a provider:\n{t}");
    assert_eq!(
        std::fs::read_to_string(dir.join("stats.py")).unwrap(),
        fixed
    );
    let s = status_json(&dir);
    assert_eq!(s["run"]["id"], 2, "{s}");
    assert_eq!(s["run"]["status"], "waiting", "{s}");

    // Decide differently: the run goes back to fixing, live, with new calls.
    let t = expect_code(
        &loom(
            &dir,
            &["reject", "accept", "--reason", "add a test for two values"],
        ),
        10,
    );
    assert!(t.contains("accept"), "{t}");
    // The accept gate opened again, live, under the fork's wording and settings.
    let gates = expect_code(&loom(&dir, &["gates"]), 0);
    assert!(gates.contains(&format!("Task: {task}")), "{gates}");
    assert!(gates.contains("of 5)"), "{gates}");
    assert_eq!(
        calls(&dir),
        [
            "planner",
            "implementer",
            "reviewer",
            "implementer",
            "reviewer"
        ],
        "{t}"
    );
    let test = std::fs::read_to_string(dir.join("test_stats.py")).unwrap();
    assert!(test.contains("test_median_big"), "{test}");
    expect_code(&loom(&dir, &["approve", "accept"]), 0);

    // The record: tick 1 names the parent, the fork tick follows the prefix, and the prefix
    // is the parent's tick for tick (verify checks it against the parent's chain).
    let log = log_json(&dir, 2);
    let fork = &log[at as usize]["tick"];
    assert_eq!(fork["kind"], "fork", "{fork}");
    let said = fork["summary"].as_str().unwrap();
    assert!(
        said.contains("bundle settings now") && said.contains("\"max-fix-rounds\":5"),
        "{said}"
    );
    let first = log[0]["tick"]["changes"].to_string();
    assert!(first.contains("fork-of"), "{first}");
    let t = expect_code(&loom(&dir, &["verify"]), 0);
    assert!(t.contains("run #1: "), "{t}");
    assert!(
        t.contains(&format!(
            "a fork of run #1: its ticks 1 to {at} are run #1's"
        )),
        "{t}"
    );
    let t = expect_code(&loom(&dir, &["log", "--run", "2"]), 0);
    assert!(
        t.contains(&format!("run #2 is a fork of run #1 after tick {at}")),
        "{t}"
    );
    let t = expect_code(&loom(&dir, &["log", "--run", "1"]), 0);
    assert!(
        t.contains(&format!("forks of run #1: #2 (after tick {at})")),
        "{t}"
    );
    assert_replays_identically(&dir);

    // An edit to the parent's record inside the shared prefix breaks the fork's proof too.
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    db.execute(
        "UPDATE ticks SET summary = 'nothing to see' WHERE run_id = 1 AND seq = 2",
        [],
    )
    .unwrap();
    let t = expect_code(&loom(&dir, &["verify"]), 13);
    assert!(t.contains("run #1: BROKEN at tick 2"), "{t}");
    assert!(
        t.contains("run #2: BROKEN at tick 2: the fork's tick differs from run #1's"),
        "{t}"
    );
}

/// Run #1 of the demo under the manual policy with its plan approved: its fix is in the tree
/// and it waits further on. Returns the plan gate's tick and the fixed `stats.py`.
fn parent_with_its_fix(dir: &Path) -> (u64, String) {
    expect_code(
        &loom(dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    let plan = gate_tick(dir, 1, "plan");
    expect_code(&loom(dir, &["approve", "plan"]), 10);
    let fixed = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    assert!(fixed.contains("% 2 == 0"), "{fixed}");
    (plan, fixed)
}

#[test]
fn fork_at_the_plan_gate_with_another_provider_takes_the_tree_back() {
    // Under the manual policy a person approves the plan.
    let (_tmp, dir) = demo_under("manual");
    let other = [
        "log = \"other-calls.jsonl\"\n\n".to_owned(),
        reply(
            "implementer",
            &FIX_EVEN.replace(") / 2\n", ") / 2  # the mean of the middle two\n"),
        ),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    std::fs::write(dir.join(".loom/other.toml"), other).unwrap();
    let (plan, _) = parent_with_its_fix(&dir);

    // The parent's task is open: a fork must say it replaces it.
    let t = expect_code(&loom(&dir, &["fork", "1", "--at", &plan.to_string()]), 2);
    assert!(t.contains("--replace"), "{t}");
    assert_eq!(runs(&dir).len(), 1, "a refused fork wrote a run");

    let t = expect_code(
        &loom(
            &dir,
            &[
                "fork",
                "1",
                "--at",
                &plan.to_string(),
                "--replace",
                "--provider",
                "scripted:.loom/other.toml",
            ],
        ),
        10,
    );
    assert!(t.contains("task #1 abandoned"), "{t}");
    assert!(t.contains("working tree taken back"), "{t}");
    // Back to before the fix: the parent's diff came out of the tree.
    let now = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    assert!(!now.contains("% 2 == 0"), "{now}");
    assert_eq!(calls(&dir), ["planner", "implementer", "reviewer"]);

    // Approving the plan runs the implementer on the other provider.
    expect_code(&loom(&dir, &["approve", "plan"]), 10);
    let other_calls = std::fs::read_to_string(dir.join(".loom/other-calls.jsonl")).unwrap();
    assert_eq!(other_calls.lines().count(), 2, "{other_calls}");
    assert_eq!(
        calls(&dir).len(),
        3,
        "the first provider was called after the fork"
    );
    let now = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    assert!(now.contains("the mean of the middle two"), "{now}");
    let log = log_json(&dir, 2);
    let fork = &log[plan as usize]["tick"];
    assert_eq!(fork["kind"], "fork", "{fork}");
    assert!(
        fork["summary"]
            .as_str()
            .unwrap()
            .contains("every agent role now calls scripted:.loom/other.toml"),
        "{fork}"
    );
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}

#[test]
fn a_fork_never_overwrites_what_was_changed_by_hand_over_the_parents_fix() {
    let (_tmp, dir) = demo_under("manual");
    let (plan, fixed) = parent_with_its_fix(&dir);
    // Someone edits, by hand and uncommitted, the very lines the parent's fix changed.
    let edited = fixed.replace("% 2 == 0", "% 2 == 0  # checked by hand, keep");
    std::fs::write(dir.join("stats.py"), &edited).unwrap();

    // Taking the fix back out would overwrite that: the fork is refused and writes nothing.
    let t = expect_code(
        &loom(&dir, &["fork", "1", "--at", &plan.to_string(), "--replace"]),
        2,
    );
    assert!(t.contains("nothing was forked"), "{t}");
    assert_eq!(
        std::fs::read_to_string(dir.join("stats.py")).unwrap(),
        edited,
        "the hand edit was overwritten"
    );
    assert_eq!(runs(&dir).len(), 1, "a refused fork wrote a run");
    let s = status_json(&dir);
    assert_eq!(s["run"]["id"], 1, "{s}");
    assert_eq!(
        s["run"]["status"], "waiting",
        "the parent was abandoned: {s}"
    );
    expect_code(&loom(&dir, &["verify"]), 0);

    // With the hand edit gone, the same fork goes through and takes the fix back out.
    std::fs::write(dir.join("stats.py"), &fixed).unwrap();
    let t = expect_code(
        &loom(&dir, &["fork", "1", "--at", &plan.to_string(), "--replace"]),
        10,
    );
    assert!(t.contains("working tree taken back"), "{t}");
    let now = std::fs::read_to_string(dir.join("stats.py")).unwrap();
    assert!(!now.contains("% 2 == 0"), "{now}");
    expect_code(&loom(&dir, &["verify"]), 0);
}

#[test]
fn a_fork_whose_bundle_departs_inside_the_prefix_is_refused_naming_the_tick() {
    let (tmp, dir) = demo_with_log();
    expect_code(
        &loom(&dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    expect_code(&loom(&dir, &["abandon"]), 0);
    let at = gate_tick(&dir, 1, "accept");
    // The hello bundle's logic is not the code bundle's: it departs at its first step.
    let other = tmp.path().join("hello.wasm");
    std::fs::write(&other, loom_guests::HELLO).unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &[
                "fork",
                "1",
                "--at",
                &at.to_string(),
                "--bundle",
                other.to_str().unwrap(),
            ],
        ),
        4,
    );
    assert!(t.contains("the fork is refused"), "{t}");
    // Here the first step names another phase: tick 1 already departs.
    assert!(t.contains("tick 1 of run #1"), "{t}");
    assert!(t.contains("phase"), "{t}");
    assert!(t.contains("nothing was written"), "{t}");
    assert_eq!(runs(&dir).len(), 1, "a refused fork wrote a run");

    // A fork point that is no tick of the run, and a run that does not exist, are refused too.
    let t = expect_code(&loom(&dir, &["fork", "1", "--at", "999"]), 2);
    assert!(t.contains("run #1 has ticks 1 to"), "{t}");
    let t = expect_code(&loom(&dir, &["fork", "7", "--at", "1"]), 2);
    assert!(t.contains('7'), "{t}");
    // Forking at the tick that ended the run leaves nothing to do.
    let last = log_json(&dir, 1).len();
    let t = expect_code(&loom(&dir, &["fork", "1", "--at", &last.to_string()]), 2);
    assert!(t.contains("fork at an earlier tick"), "{t}");
}

#[test]
fn a_kill_during_the_prefix_or_the_live_part_is_finished_by_resume_with_nothing_repeated() {
    let (_tmp, dir) = demo_with_log();
    expect_code(
        &loom(&dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    let at = gate_tick(&dir, 1, "accept");
    expect_code(&loom(&dir, &["abandon"]), 0);
    let before = calls(&dir);

    // Killed after the fork re-executed two of its ticks.
    let o = std::process::Command::new(LOOM)
        .args(["fork", "1", "--at", &at.to_string()])
        .current_dir(&dir)
        .env("LOOM_FAILPOINT", "fork-prefix:2")
        .env_remove("CARGO")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "not killed: {}", text(&o));
    // Tick 1 (the fork's start), then two re-executed ticks.
    assert_eq!(
        log_json(&dir, 2).len(),
        3,
        "the kill came after the second re-executed tick"
    );
    // Resume finishes the prefix from the record, then the fork tick.
    expect_code(&loom(&dir, &["resume"]), 10);
    assert_eq!(calls(&dir), before, "the prefix called a provider");
    let log = log_json(&dir, 2);
    assert_eq!(log.len() as u64, at + 1);
    assert_eq!(log[at as usize]["tick"]["kind"], "fork");

    // Killed during the live part: the implementer's second turn (the fix) is slow.
    let script = std::fs::read_to_string(dir.join(".loom/replies.toml")).unwrap();
    let slow = script.replacen(
        &reply("implementer", ADD_TEST),
        &reply("implementer", ADD_TEST).replace("[[reply]]\n", "[[reply]]\ndelay_ms = 60000\n"),
        1,
    );
    assert_ne!(slow, script);
    std::fs::write(dir.join(".loom/replies.toml"), &slow).unwrap();
    kill_during(
        &dir,
        &["reject", "accept", "--reason", "add a test for two values"],
        "fix",
    );
    std::fs::write(dir.join(".loom/replies.toml"), &script).unwrap();
    expect_code(&loom(&dir, &["resume"]), 10);
    let after = calls(&dir);
    assert_eq!(
        after,
        [
            "planner",
            "implementer",
            "reviewer",
            "implementer",
            "reviewer"
        ],
        "an effect ran twice or not at all"
    );
    expect_code(&loom(&dir, &["approve", "accept"]), 0);
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}

/// Over `loom serve`: the API refuses a fork while the task is open unless it replaces it,
/// the dashboard's "Fork from here" forks with the session's CSRF token and shows the family,
/// and the CLI's `loom fork` goes to the server.
#[test]
fn a_fork_over_http_from_the_dashboard_and_forwarded_from_the_cli() {
    use crate::test_serve::{add_user, client, input_value, Server};
    let (_tmp, dir) = demo_with_log();
    let server = Server::start(&dir);
    let login = loop {
        let line = server
            .lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap();
        if let (Some(at), true) = (line.find("http://"), line.contains("/login?code=")) {
            break line[at..].trim().to_owned();
        }
    };
    expect_code(
        &loom(&dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    let at = gate_tick(&dir, 1, "accept");
    let token = add_user(&dir, "ann");
    let http = client();
    let fork = |body: serde_json::Value| {
        http.post(server.url("runs/1/fork"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap()
    };
    let r = fork(serde_json::json!({"at": at}));
    assert_eq!(r.status(), 400);
    let problem: serde_json::Value = r.json().unwrap();
    assert!(
        problem["detail"].to_string().contains("--replace"),
        "{problem}"
    );
    let r = fork(serde_json::json!({"at": at, "replace": true}));
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["run"], 2, "{v}");
    assert_eq!(calls(&dir), ["planner", "implementer", "reviewer"]);

    // The dashboard: a tick's page offers the fork (here of the fork itself, inside the
    // prefix it shares with run #1); the new fork's page names its parent.
    let browser = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(&login).send().unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let base = format!("http://{}", server.addr);
    let page = browser
        .get(format!("{base}/runs/2/ticks/{at}"))
        .header("Cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(&format!("Fork from tick #{at}")), "{page}");
    let csrf = input_value(&page, "csrf");
    let r = browser
        .post(format!("{base}/runs/2/fork"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&at={at}&replace=on"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap_or_default());
    assert_eq!(r.headers()["location"], "/runs/3");
    let page = browser
        .get(format!("{base}/runs/3"))
        .header("Cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("A fork of "), "{page}");
    assert!(page.contains("run #2"), "{page}");
    let page = browser
        .get(format!("{base}/runs/2"))
        .header("Cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Forks of this run"), "{page}");

    // The CLI forwards a fork to the server.
    let t = expect_code(
        &loom(&dir, &["fork", "1", "--at", &at.to_string(), "--replace"]),
        10,
    );
    assert!(
        t.contains("run #4 forked from run #1 (by the loom server"),
        "{t}"
    );
    assert_eq!(calls(&dir), ["planner", "implementer", "reviewer"]);
    assert_eq!(server.stop(), Some(0));
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}

/// `fork_run` through the official Python MCP SDK: the agent forks the run before the human's
/// acceptance, nothing is called for the prefix, and the fork's human gate is still not the
/// agent's to decide.
#[test]
fn an_agent_forks_over_mcp_and_still_cannot_decide_the_human_gate() {
    let Some(py) = crate::test_mcp::python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the Python MCP SDK (target/mcp-venv, see .ci/run)"
        );
        eprintln!("skipped: no Python with the `mcp` package (target/mcp-venv, see .ci/run)");
        return;
    };
    let (_tmp, dir) = demo_with_log();
    expect_code(
        &loom(&dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    let at = gate_tick(&dir, 1, "accept");
    const SCRIPT: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    loom, project, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = {}
    params = StdioServerParameters(command=loom, args=["mcp", "-C", project])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            def res(r):
                return {"is_error": r.is_error, "structured": r.structured_content,
                        "text": "\n".join(c.text for c in r.content if c.type == "text")}
            out["open"] = res(await s.call_tool("fork_run", {"run": 1, "at": at}))
            out["fork"] = res(await s.call_tool(
                "fork_run", {"run": 1, "at": at, "replace": True, "wait": 60}))
            gate = out["fork"]["structured"]["pending_gates"][0]
            out["decide"] = res(await s.call_tool("decide_gate", {
                "gate": gate["name"], "approved": True, "shown_hash": gate["shown_hash"]}))
    print(json.dumps(out))

asyncio.run(main())
"#;
    let out = crate::test_mcp::run_python(
        &py,
        SCRIPT,
        &dir,
        &[LOOM, dir.to_str().unwrap(), &at.to_string()],
    );
    assert_eq!(out["open"]["is_error"], true, "{out}");
    assert!(
        out["open"]["text"].as_str().unwrap().contains("--replace"),
        "{out}"
    );
    let fork = &out["fork"];
    assert_eq!(fork["is_error"], false, "{fork}");
    assert_eq!(fork["structured"]["run"], 2, "{fork}");
    assert_eq!(fork["structured"]["status"], "waiting", "{fork}");
    assert_eq!(out["decide"]["is_error"], true, "{out}");
    assert_eq!(calls(&dir), ["planner", "implementer", "reviewer"]);
    let s = status_json(&dir);
    assert_eq!(s["pending_gates"][0]["status"], "pending", "{s}");
    assert_replays_identically(&dir);
}

/// A fork cut short whose parent's record was edited since no longer reproduces: the next
/// command that drives the project abandons it, saying why, instead of being held by it.
#[test]
fn a_fork_that_can_no_longer_be_finished_is_abandoned_saying_why() {
    let (_tmp, dir) = demo_with_log();
    expect_code(
        &loom(&dir, &["run", "fix the median of even-length lists"]),
        10,
    );
    let at = gate_tick(&dir, 1, "accept");
    expect_code(&loom(&dir, &["abandon"]), 0);
    let o = std::process::Command::new(LOOM)
        .args(["fork", "1", "--at", &at.to_string()])
        .current_dir(&dir)
        .env("LOOM_FAILPOINT", "fork-prefix:2")
        .env_remove("CARGO")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "not killed: {}", text(&o));
    let db = rusqlite::Connection::open(dir.join(".loom/loom.db")).unwrap();
    db.execute(
        "UPDATE ticks SET summary = 'nothing to see' WHERE run_id = 1 AND seq = ?1",
        [at as i64],
    )
    .unwrap();
    let t = text(&loom(&dir, &["resume"]));
    assert!(t.contains("the fork could not be completed"), "{t}");
    let s = status_json(&dir);
    assert!(s["task"].is_null(), "{s}");
    assert_eq!(s["run"]["status"], "abandoned", "{s}");
    // The project is free again.
    expect_code(&loom(&dir, &["run", "fix the median again"]), 10);
}

/// `--bundle` with a new version whose logic reproduces the prefix: a run of the 0.1.0
/// contract's testkit goes on under the 0.2.0 one, and the fork's start records that bundle.
#[test]
fn a_fork_moves_a_run_onto_a_new_version_of_its_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, testkit) = testkit_project(tmp.path());
    let legacy = tmp.path().join("testkit-0.1.wasm");
    std::fs::write(&legacy, loom_guests::TESTKIT_0_1).unwrap();
    std::fs::write(
        dir.join("replies.toml"),
        "log = \"calls.jsonl\"\n[[reply]]\nrole = \"worker\"\ntext = \"all done\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "default_chain = [\"scripted:replies.toml\"]\n",
    )
    .unwrap();
    let legacy = legacy.to_str().unwrap();
    expect_code(&loom(&dir, &["run", "--bundle", legacy, "tidy up"]), 10);
    let at = gate_tick(&dir, 1, "finish");
    expect_code(&loom(&dir, &["abandon"]), 0);
    let called = std::fs::read_to_string(dir.join("calls.jsonl")).unwrap();
    let t = expect_code(
        &loom(
            &dir,
            &[
                "fork",
                "1",
                "--at",
                &at.to_string(),
                "--bundle",
                testkit.to_str().unwrap(),
            ],
        ),
        10,
    );
    assert!(t.contains("with bundle testkit 0.1.0"), "{t}");
    assert_eq!(
        std::fs::read_to_string(dir.join("calls.jsonl")).unwrap(),
        called
    );
    expect_code(&loom(&dir, &["approve", "finish"]), 0);
    let runs = runs(&dir);
    assert_eq!(runs[0]["run"]["bundle_name"], "testkit", "{:?}", runs[0]);
    expect_code(&loom(&dir, &["verify"]), 0);
    assert_replays_identically(&dir);
}
