//! `loom log [-n N] [--follow]` and `loom verify`: reading a run's timeline and its chain.

use crate::{exit, print_json, read_only, render};
use anyhow::Result;
use loom_engine::{reads, EngineError};
use std::path::Path;

/// What a project without runs says to `log`, `verify` and `replay` alike (exit 2).
pub fn no_runs() -> EngineError {
    EngineError::Usage("no runs yet; start one with `loom run \"…\"`".into())
}

/// Which ticks of a run `loom log` prints.
pub struct Page {
    /// only the last N ticks
    pub last: Option<u64>,
    /// only the ticks after this seq
    pub since: Option<u64>,
    /// at most this many ticks
    pub limit: Option<u32>,
}

pub fn run(root: &Path, json: bool, run: Option<u64>, page: Page, follow: bool) -> Result<u8> {
    let store = read_only(root)?;
    let current = match run {
        Some(r) => Some(store.run(r).map_err(EngineError::from)?),
        None => reads::current_run(&store)?,
    };
    // Following a project without runs waits for its first one.
    let Some(current) = current else {
        if follow {
            return follow_from(root, None);
        }
        return Err(no_runs().into());
    };
    let since = match (page.since, page.last) {
        (Some(seq), _) => seq,
        (None, Some(n)) => current.last_seq.saturating_sub(n),
        (None, None) => 0,
    };
    let rest = u32::try_from(current.last_seq.saturating_sub(since)).unwrap_or(u32::MAX);
    let limit = page.limit.unwrap_or(rest).min(rest.max(1));
    let log = reads::log_page(&store, current.id, since, limit.max(1))?;
    if json {
        print_json(
            &log.iter()
                .map(loom_views::LogEntry::from)
                .collect::<Vec<_>>(),
        )?;
    } else {
        family(&store, current.id)?;
        render::log(&log);
    }
    if follow {
        let seen = log
            .last()
            .map_or((current.id, since), |e| (e.tick.run_id, e.tick.seq));
        return follow_from(root, Some(seen));
    }
    Ok(exit::OK)
}

/// Says where `run` sits among forks, when it has a parent or children.
fn family(store: &loom_kernel::Store, run: u64) -> Result<()> {
    let f = reads::family(store, run)?;
    if let Some(p) = &f.parent {
        outln!(
            "run #{run} is a fork of run #{} after tick {}: ticks 1 to {} re-execute run #{}'s",
            p.run,
            p.at,
            p.at,
            p.run
        );
    }
    if !f.children.is_empty() {
        let list: Vec<String> = f
            .children
            .iter()
            .map(|(id, at)| format!("#{id} (after tick {at})"))
            .collect();
        outln!("forks of run #{run}: {}", list.join(", "));
    }
    Ok(())
}

/// Prints every tick committed after `seen` (run, seq), by this process or any other, as it
/// commits, until interrupted. The service's watcher notices commits (`PRAGMA data_version`);
/// the ticks themselves are read from the database, which is the truth the events point at.
fn follow_from(root: &Path, mut seen: Option<(u64, u64)>) -> Result<u8> {
    let db = loom_engine::project::db_path(root);
    let bus = loom_service::Bus::new();
    let mut events = bus.subscribe();
    let _watcher = loom_service::Watcher::spawn(db, bus).map_err(EngineError::from)?;
    errln!("following {} (Ctrl-C stops)", root.display());
    // Ticks committed between the first read and the watcher's start are caught up here.
    seen = print_after(root, seen)?;
    loop {
        use tokio::sync::broadcast::error::RecvError;
        match events.blocking_recv() {
            Ok(loom_service::Event::TickCommitted { .. }) | Err(RecvError::Lagged(_)) => {
                seen = print_after(root, seen)?;
            }
            Ok(_) => {}
            Err(RecvError::Closed) => return Ok(exit::OK),
        }
    }
}

/// Prints the ticks after `seen` of its run and of every newer run; returns the newest printed.
fn print_after(root: &Path, seen: Option<(u64, u64)>) -> Result<Option<(u64, u64)>> {
    const PAGE: u32 = 512;
    let store = read_only(root)?;
    let mut seen = seen;
    let from = seen.map(|(id, _)| id);
    let runs = store.runs().map_err(EngineError::from)?;
    for run in runs.iter().filter(|r| from.is_none_or(|id| r.id >= id)) {
        let mut since = match seen {
            Some((id, seq)) if id == run.id => seq,
            _ => 0,
        };
        if since == 0 && seen.is_some_and(|(id, _)| id != run.id) {
            outln!("{}", render::run_heading(run));
        }
        loop {
            let page = reads::log_page(&store, run.id, since, PAGE)?;
            render::log(&page);
            if let Some(e) = page.last() {
                since = e.tick.seq;
                seen = Some((run.id, since));
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        if seen.is_none() {
            seen = Some((run.id, 0));
        }
    }
    Ok(seen)
}

pub fn verify(root: &Path, run: Option<u64>, json: bool) -> Result<u8> {
    let reports = reads::verify(&read_only(root)?, run)?;
    if reports.is_empty() {
        return Err(no_runs().into());
    }
    if json {
        print_json(
            &reports
                .iter()
                .map(loom_views::ChainReport::from)
                .collect::<Vec<_>>(),
        )?;
    }
    let mut code = exit::OK;
    for r in &reports {
        match &r.broken {
            None if !json => match &r.fork {
                Some(f) => outln!(
                    "run #{}: {} ticks, chain intact; a fork of run #{}: its ticks 1 to {} are \
                     run #{}'s",
                    r.run,
                    r.ticks,
                    f.run,
                    f.at,
                    f.run
                ),
                None => outln!("run #{}: {} ticks, chain intact", r.run, r.ticks),
            },
            None => {}
            Some(b) => {
                code = exit::BROKEN;
                if !json {
                    outln!(
                        "run #{}: {} at tick {}: {}",
                        r.run,
                        crate::color::paint(crate::color::Style::Red, "BROKEN"),
                        b.seq,
                        b.problem
                    );
                    outln!("  expected {}", b.expected);
                    outln!("  found    {}", b.found);
                }
            }
        }
    }
    Ok(code)
}
