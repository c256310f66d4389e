//! How the CLI shows things to a person.

use crate::color::{self, Style};
use loom_engine::{DriveReport, LogEntry, Observer, Status};
use loom_kernel::{RunStatus, TickKind, TickRow};
use std::io::Write;
use std::time::Instant;

/// Prints each tick as it commits, and a live line while a long effect runs: on a terminal the
/// line is rewritten in place with the latest progress (tokens so far), at most ten times a
/// second; into a pipe or file only the start and the end of the effect are written.
#[derive(Default)]
pub struct Printer {
    started: Option<Instant>,
    line: String,
    shown: Option<Instant>,
}

fn kind_label(kind: TickKind) -> &'static str {
    match kind {
        TickKind::Start => "start",
        TickKind::Effect => "step",
        TickKind::GateOpen => "gate",
        TickKind::Decision => "decided",
        TickKind::Finish => "finish",
        TickKind::Violation => "REFUSED",
        TickKind::Fault => "STOPPED",
        TickKind::Hold => "hold",
        TickKind::Resume => "resume",
        TickKind::Abandon => "abandon",
        TickKind::Fork => "fork",
    }
}

pub fn tick_line(row: &TickRow) -> String {
    format!(
        "  #{:<3} {} {:<10} {}",
        row.seq,
        color::padded(color::of_kind(row.kind), kind_label(row.kind), 8),
        row.step.as_deref().unwrap_or("-"),
        row.summary.lines().next().unwrap_or("")
    )
}

/// The line `loom log --follow` prints when a new run begins.
pub fn run_heading(run: &loom_kernel::Run) -> String {
    color::paint(
        Style::Bold,
        &format!(
            "run #{} (task #{}, bundle {} {})",
            run.id, run.task_id, run.bundle_name, run.bundle_version
        ),
    )
}

impl Observer for Printer {
    fn tick(&mut self, row: &TickRow) {
        outln!("{}", tick_line(row));
    }

    fn effect_started(&mut self, step: &str, what: &str) {
        self.started = Some(Instant::now());
        self.line = format!("  ...  {step}: {what}");
        out!("{}", self.line);
        let _ = std::io::stdout().flush();
    }

    fn progress(&mut self, _step: &str, note: &str) {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return;
        }
        let due = self
            .shown
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(100));
        if due {
            self.shown = Some(Instant::now());
            let secs = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
            // \r and "erase line": the line shows the newest progress only.
            out!("\r\x1b[2K{} · {note} · {secs:.0}s", self.line);
            let _ = std::io::stdout().flush();
        }
    }

    fn effect_finished(&mut self, _step: &str) {
        use std::io::IsTerminal;
        let secs = self
            .started
            .take()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        if self.shown.take().is_some() && std::io::stdout().is_terminal() {
            out!("\r\x1b[2K{}", self.line);
        }
        outln!(" ({secs:.1}s)");
    }
}

pub fn outcome(r: &DriveReport) {
    outln!();
    let task = format!("task #{} \"{}\"", r.task.id, r.task.title);
    match r.run.status {
        RunStatus::Done => outln!(
            "{} {task} finished in run #{}.",
            color::paint(Style::Green, "done:"),
            r.run.id
        ),
        RunStatus::Waiting => {
            outln!(
                "{} {task} needs a human decision.",
                color::paint(Style::Yellow, "waiting:")
            );
            for g in &r.waiting_on {
                outln!();
                crate::render_gates::block(g, None);
            }
        }
        RunStatus::Stopped => {
            outln!(
                "{} {task}, run #{}.",
                color::paint(Style::Red, "stopped:"),
                r.run.id
            );
            if let Some(why) = &r.run.stop_reason {
                outln!("  why: {why}");
            }
            match &r.stop {
                Some(stop) => outln!("  {}.", stop.hint()),
                None => outln!(
                    "  `loom status` shows the state; `loom resume` goes on; `loom abandon` drops the task."
                ),
            }
        }
        RunStatus::Failed => {
            outln!(
                "{} {task}: {}",
                color::paint(Style::Red, "failed:"),
                r.run.stop_reason.as_deref().unwrap_or("the bundle gave up")
            );
        }
        RunStatus::Abandoned => outln!("abandoned: {task}."),
        RunStatus::Running => outln!("paused: {task} is still running; `loom resume` goes on."),
    }
}

pub fn status(s: &Status) {
    match (&s.task, &s.run) {
        (Some(t), _) => outln!("open task #{}: {}", t.id, t.title),
        (None, Some(_)) => outln!("no open task (the newest run is shown)"),
        (None, None) => {
            outln!("no tasks yet; start one with: loom run \"what should be done\"");
            return;
        }
    }
    if let Some(r) = &s.run {
        outln!(
            "run #{}: {} · phase {} · {} ticks · bundle {} {}",
            r.id,
            r.status,
            r.phase,
            r.last_seq,
            r.bundle_name,
            r.bundle_version
        );
        if let Some(why) = &r.stop_reason {
            outln!("  {why}");
        }
        if let Some(stop) = &s.stop {
            outln!("  what to do: {}", stop.hint());
        }
    }
    if let Some(d) = &s.driver {
        outln!("being driven by {}", d.describe());
    }
    for u in &s.in_flight {
        outln!(
            "in flight: effect {} attempt {} ({}, step {}), started at tick {}",
            u.key,
            u.attempt,
            u.kind,
            u.step,
            u.seq
        );
    }
    for g in &s.pending_gates {
        crate::render_gates::block(g, None);
    }
    for u in &s.uncertain {
        outln!(
            "uncertain effect {} attempt {} ({}, step {}): started, never recorded as finished{}",
            u.key,
            u.attempt,
            u.kind,
            u.step,
            if u.retry_safe {
                "; it is retry-safe and will be retried on resume"
            } else {
                "; a human decides on resume"
            }
        );
    }
    for v in &s.violations {
        outln!(
            "violation at tick {}: [{}] {} (rows: {})",
            v.seq,
            v.rule,
            v.message,
            v.rows.join(", ")
        );
    }
    if !s.facts.is_empty() {
        outln!("facts:");
        for f in &s.facts {
            let mut value = f.value.replace('\n', " ");
            if value.len() > 100 {
                let cut = (0..=100)
                    .rev()
                    .find(|i| value.is_char_boundary(*i))
                    .unwrap_or(0);
                value.truncate(cut);
                value.push('…');
            }
            outln!("  {}/{} = {}", f.kind, f.key, value);
        }
    }
}

pub fn log(entries: &[LogEntry]) {
    for e in entries {
        let t = &e.tick;
        outln!("{}", tick_line(t));
        outln!(
            "        token {}·{}·{}ms{}  hash {}",
            t.run_id,
            t.seq,
            t.unix_ms,
            t.decider
                .as_deref()
                .map(|d| format!("  decider {d}"))
                .unwrap_or_default(),
            &t.hash[..12]
        );
        for l in &e.ledger {
            outln!(
                "        ledger {} attempt {} {} {}: {}",
                l.key,
                l.attempt,
                l.kind,
                match l.status {
                    loom_kernel::LedgerStatus::Failed | loom_kernel::LedgerStatus::Refused => {
                        color::paint(Style::Red, l.status.as_str())
                    }
                    _ => l.status.as_str().to_owned(),
                },
                l.summary
            );
            // A row whose metadata does not parse shows no cost line; `loom verify` and the
            // budget rule name the damage.
            let meta: Option<serde_json::Value> = serde_json::from_str(&l.meta).ok();
            if let Some(cost) = meta.as_ref().and_then(|m| m["cost_usd"].as_f64()) {
                outln!(
                    "          cost {} ({})",
                    loom_engine::money::usd(cost),
                    meta.as_ref()
                        .and_then(|m| m["cost_source"].as_str())
                        .unwrap_or("?")
                );
            }
        }
    }
}

/// Prints replay reports (a table when there are several runs) and returns the exit code.
pub fn replay(reports: &[loom_engine::replay::RunReplay], json: bool) -> anyhow::Result<u8> {
    let diverged = reports.iter().any(|r| !r.identical);
    let fired = reports.iter().any(|r| !r.firings.is_empty());
    // Rules that could not run checked nothing: that is the rules' fault, not a pass.
    let faulted = reports.iter().any(|r| !r.faults.is_empty());
    if json {
        crate::print_json(
            &reports
                .iter()
                .map(loom_views::RunReplay::from)
                .collect::<Vec<_>>(),
        )?;
    } else if reports.is_empty() {
        outln!("no recorded runs to replay");
    } else if reports.len() > 1 {
        outln!(
            "{:>5} {:>5}  {:<28} {:>9}  first firing",
            "run",
            "task",
            "title",
            "replay"
        );
        for r in reports {
            let first = r.firings.iter().min_by_key(|f| f.seq);
            outln!(
                "{:>5} {:>5}  {:<28} {:>9}  {}",
                format!("#{}", r.run),
                format!("#{}", r.task),
                truncate(&r.title, 28),
                if r.identical { "identical" } else { "DIFFERS" },
                first.map_or("-".into(), |f| format!(
                    "tick {} [{}] {}",
                    f.seq, f.source, f.rule
                ))
            );
        }
    } else {
        for r in reports {
            replay_one(r);
        }
    }
    Ok(if diverged {
        crate::exit::BROKEN
    } else if faulted {
        crate::exit::BUNDLE
    } else if fired {
        crate::exit::FIRED
    } else {
        crate::exit::OK
    })
}

fn replay_one(r: &loom_engine::replay::RunReplay) {
    let title = format!("run #{} (task #{} \"{}\")", r.run, r.task, r.title);
    for t in &r.ticks {
        let verdict = match t.reproduced {
            Some(true) => "reproduced",
            Some(false) => "DIFFERS",
            None => "not reached",
        };
        outln!(
            "  #{:<3} {:<9} {:<10} {}",
            t.seq,
            t.kind,
            t.step.as_deref().unwrap_or("-"),
            t.summary.lines().next().unwrap_or("")
        );
        outln!(
            "        token {}·{}·{}ms{}  {verdict}",
            r.run,
            t.seq,
            t.unix_ms,
            t.decider
                .as_deref()
                .map(|d| format!("  decider {d}"))
                .unwrap_or_default()
        );
        for l in &t.ledger {
            outln!("        ledger {l}");
        }
        for rule in &t.fired {
            outln!("        fires {rule}");
        }
    }
    match &r.divergence {
        None if r.identical => outln!(
            "{title}: identical, {} ticks replayed in {} ms, no provider called",
            r.replayed_ticks,
            r.millis
        ),
        None => outln!(
            "{title}: replayed {} of {} ticks",
            r.replayed_ticks,
            r.recorded_ticks
        ),
        Some(d) => {
            outln!(
                "{title}: DIFFERS at tick {} (step {}), in {}",
                d.seq,
                d.step.as_deref().unwrap_or("-"),
                d.what
            );
            outln!("  recorded  {}", d.recorded);
            outln!("  replayed  {}", d.replayed);
        }
    }
    for f in &r.firings {
        outln!(
            "  [{}] rule {} would fire first at tick {} (step {}): {}",
            f.source,
            f.rule,
            f.seq,
            f.step.as_deref().unwrap_or("-"),
            f.message
        );
        if !f.rows.is_empty() {
            outln!("      rows: {}", f.rows.join(", "));
        }
    }
    for fault in &r.faults {
        outln!("  rules could not run: {fault}");
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// The error and its causes, each said once: an error whose message already quotes its cause
/// (the engine's `bundle: {0}`) would otherwise print the cause twice, which for a manifest's
/// list of problems doubles a screenful.
pub fn error(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}
