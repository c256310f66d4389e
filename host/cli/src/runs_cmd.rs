//! `loom runs`: every run of the project, newest first.

use crate::color::{self, Style};
use crate::{exit, print_json};
use anyhow::Result;
use loom_engine::EngineError;
use loom_kernel::Store;

pub fn run(store: &Store, json: bool) -> Result<u8> {
    let e = EngineError::from;
    let runs = store.runs().map_err(e)?;
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs.into_iter().rev() {
        let task = store.task(run.task_id).map_err(e)?;
        rows.push((run, task));
    }
    if json {
        // The shape of the HTTP API's `GET /api/v1/runs` items.
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|(run, task)| {
                serde_json::json!({
                    "run": loom_views::Run::from(run),
                    "task": task.as_ref().map(loom_views::Task::from),
                })
            })
            .collect();
        print_json(&items)?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        outln!("no runs yet; start one with: loom run \"what should be done\"");
        return Ok(exit::OK);
    }
    outln!(
        "{}",
        color::paint(
            Style::Bold,
            &format!(
                "{:>5}  {:<9}  {:>5}  {:<19}  {:<12}  task",
                "run", "status", "ticks", "started (UTC)", "bundle"
            )
        )
    );
    for (run, task) in &rows {
        let status = run.status.as_str();
        let title = task.as_ref().map_or("(no task)", |t| t.title.as_str());
        let task_id = task.as_ref().map_or(run.task_id, |t| t.id);
        outln!(
            "{:>5}  {}  {:>5}  {:<19}  {:<12}  #{task_id} {}",
            format!("#{}", run.id),
            color::padded(color::of_status(status), status, 9),
            run.last_seq,
            loom_http::web::utc_time(run.created_ms),
            truncate(&run.bundle_name, 12),
            title.lines().next().unwrap_or("")
        );
        if let Some(why) = run.stop_reason.as_deref().filter(|_| status == "stopped") {
            outln!(
                "{:>5}  {}",
                "",
                truncate(why.lines().next().unwrap_or(""), 100)
            );
        }
    }
    Ok(exit::OK)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
