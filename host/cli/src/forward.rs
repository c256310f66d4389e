//! Forwarding the driving commands (`run`, `approve`, `reject`, `resume`, `abandon`) to a
//! live `loom serve` of the project: the server holds the driver lock for its life, so the
//! CLI could only exit 6 otherwise. The command goes over HTTP with the server's local
//! token; the CLI then follows the run in the database (read-only, as the read commands
//! do) and prints its ticks and where it ended, as when it drives itself.

use crate::{exit, render};
use anyhow::{anyhow, Context, Result};
use loom_engine::{reads, DriveReport, ErrorKind};
use loom_http::ServeFile;
use loom_kernel::{Decider, GateStatus, RunStatus};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// How often the CLI looks at the run it follows.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Longest a forwarded command may wait for the server's answer (a command queues behind
/// the engine thread's current step, which may be a long agent call).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3600);

/// An error the server answered with, carrying the engine's kind for the exit code.
#[derive(Debug, thiserror::Error)]
#[error("{detail} (answered by the server at {addr})")]
pub struct Remote {
    pub kind: Option<ErrorKind>,
    pub detail: String,
    pub addr: String,
}

fn kind_named(k: &str) -> Option<ErrorKind> {
    Some(match k {
        "usage" => ErrorKind::Usage,
        "config" => ErrorKind::Config,
        "refused" => ErrorKind::Refused,
        "bundle" => ErrorKind::Bundle,
        "busy" => ErrorKind::Busy,
        "conflict" => ErrorKind::Conflict,
        "forbidden" => ErrorKind::Forbidden,
        "internal" => ErrorKind::Internal,
        _ => return None,
    })
}

/// The live server of the project at `root`, if there is one.
pub fn server(root: &Path) -> Option<ServeFile> {
    ServeFile::live(root)
}

/// Sends `body` to `path` on the server and returns its JSON answer.
pub fn post(s: &ServeFile, path: &str, body: Value) -> Result<Value> {
    let client = reqwest::blocking::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .build()
        .context("cannot build an HTTP client")?;
    let url = format!("http://{}/api/v1/{path}", s.addr);
    let resp = client
        .post(&url)
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .with_context(|| format!("cannot reach the loom server at {}", s.addr))?;
    let ok = resp.status().is_success();
    let v: Value = resp
        .json()
        .with_context(|| format!("the loom server at {} answered no JSON", s.addr))?;
    if ok {
        return Ok(v);
    }
    Err(anyhow!(Remote {
        kind: v["kind"].as_str().and_then(kind_named),
        detail: v["detail"]
            .as_str()
            .unwrap_or("the server refused")
            .to_owned(),
        addr: s.addr.clone(),
    }))
}

/// Says where the command went, follows `run` until it rests, prints the outcome and
/// returns the exit code, as a driving command does. Ticks up to `before` (the current
/// run and its newest tick before the command) were there before it and are not printed.
pub fn follow(root: &Path, s: &ServeFile, run: u64, before: Option<(u64, u64)>) -> Result<u8> {
    errln!(
        "(sent to the loom server at {}, which drives this project)",
        s.addr
    );
    let db = loom_engine::project::db_path(root);
    let mut printed = match before {
        Some((r, seq)) if r == run => seq,
        _ => 0,
    };
    loop {
        let store =
            loom_kernel::Store::open_read_only(&db).map_err(loom_engine::EngineError::from)?;
        for t in store.ticks(run).map_err(loom_engine::EngineError::from)? {
            if t.seq > printed {
                outln!("{}", render::tick_line(&t));
                printed = t.seq;
            }
        }
        let r = store.run(run).map_err(loom_engine::EngineError::from)?;
        if r.status != RunStatus::Running {
            let report = report(&store, r)?;
            return Ok(crate::finish(&report));
        }
        if server(root).is_none() {
            errln!("the loom server stopped while run #{run} was running; `loom resume` goes on");
            return Ok(exit::STOPPED);
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

fn report(store: &loom_kernel::Store, run: loom_kernel::Run) -> Result<DriveReport> {
    let e = loom_engine::EngineError::from;
    let task = store
        .task(run.task_id)
        .map_err(e)?
        .ok_or_else(|| anyhow!("run #{} has no task", run.id))?;
    let stop = match run.status {
        RunStatus::Stopped => reads::last_stop(store, &run)?,
        _ => None,
    };
    let waiting_on = store
        .gates(run.id)
        .map_err(e)?
        .into_iter()
        .filter(|g| g.status == GateStatus::Pending && g.decider == Decider::Human)
        .collect();
    Ok(DriveReport {
        stop,
        waiting_on,
        violations: store.violations(run.id).map_err(e)?,
        run,
        task,
    })
}

/// The current run and its newest tick, before a command changes them: the CLI prints
/// only what the command adds, as when it drives itself.
pub fn before(root: &Path) -> Option<(u64, u64)> {
    let store = loom_kernel::Store::open_read_only(&loom_engine::project::db_path(root)).ok()?;
    reads::current_run(&store).ok()?.map(|r| (r.id, r.last_seq))
}

/// A decision, forwarded: `body` is the decision as `POST /gates/{gate}/decision` takes it.
pub fn decide(root: &Path, s: &ServeFile, gate: &str, body: Value) -> Result<u8> {
    let before = before(root);
    let v = post(s, &format!("gates/{}/decision", encode(gate)), body)?;
    follow(root, s, run_of(&v)?, before)
}

/// `loom run`, forwarded (the server runs the built-in bundle only).
pub fn run(
    root: &Path,
    s: &ServeFile,
    title: &str,
    provider: Option<String>,
    other_bundle: bool,
) -> Result<u8> {
    if other_bundle {
        return Err(loom_engine::EngineError::Usage(format!(
            "the loom server at {} drives this project and runs the built-in bundle only; \
             stop it to run another bundle",
            s.addr
        ))
        .into());
    }
    let v = post(s, "tasks", json!({"title": title, "provider": provider}))?;
    follow(root, s, run_of(&v)?, None)
}

pub fn resume(root: &Path, s: &ServeFile) -> Result<u8> {
    let before = before(root);
    let v = post(s, "resume", json!({}))?;
    follow(root, s, run_of(&v)?, before)
}

/// `loom fork`, forwarded: the server re-executes the prefix and drives the fork on.
pub fn fork(root: &Path, s: &ServeFile, run: u64, body: Value) -> Result<u8> {
    let before = before(root);
    let v = post(s, &format!("runs/{run}/fork"), body)?;
    let fork = run_of(&v)?;
    outln!(
        "run #{fork} forked from run #{run} (by the loom server at {})",
        s.addr
    );
    follow(root, s, fork, before)
}

/// `loom abandon`, forwarded: the server records it at its next tick boundary.
pub fn abandon(s: &ServeFile, reason: Option<String>, who: String) -> Result<u8> {
    let v = post(s, "abandon", json!({"reason": reason, "as": who}))?;
    outln!(
        "task #{} abandoned (by the loom server at {}); the project is free for a new task",
        v["task"]["id"],
        s.addr
    );
    Ok(exit::OK)
}

pub fn run_of(v: &Value) -> Result<u64> {
    v["run"]
        .as_u64()
        .ok_or_else(|| anyhow!("the server's answer names no run: {v}"))
}

/// A gate's name or id as one path segment.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
