#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test should panic with the reason
//! The service driving the testkit bundle through its handle, as a transport would.

use super::*;
use loom_engine::replay::{replay, ReplayOptions, Runs};
use loom_engine::{Actor, Silent};
use loom_kernel::{GateStatus, LedgerStatus, RunStatus, TickKind};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::Receiver;

const CONFIG: &str = "default_chain = [\"scripted:replies.toml\"]\n";

fn project(delay_ms: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    project::init(dir.path()).unwrap();
    std::fs::write(dir.path().join("loom.toml"), CONFIG).unwrap();
    let replies =
        format!("[[reply]]\nrole = \"worker\"\ntext = \"all done\"\ndelay_ms = {delay_ms}\n");
    std::fs::write(dir.path().join("replies.toml"), replies).unwrap();
    dir
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The first event `pick` accepts, within `secs`.
async fn wait_for<T>(rx: &mut Receiver<Event>, secs: u64, pick: impl Fn(&Event) -> Option<T>) -> T {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let e = tokio::time::timeout_at(until, rx.recv())
            .await
            .expect("the event did not come in time")
            .expect("the bus closed");
        if let Some(t) = pick(&e) {
            return t;
        }
    }
}

fn human(who: &str) -> Origin {
    Origin::human(who, "web")
}

fn assert_replays(dir: &Path) {
    let reports = replay(
        &project::db_path(dir),
        Runs::All { since: None },
        &ReplayOptions::default(),
    )
    .unwrap();
    assert!(!reports.is_empty());
    for r in reports {
        assert!(
            r.identical,
            "run #{} does not replay: {:?}",
            r.run, r.divergence
        );
    }
}

#[test]
fn the_handle_is_send_and_clone() {
    fn send_clone<T: Send + Clone + 'static>() {}
    send_clone::<EngineHandle>();
    send_clone::<Reader>();
    send_clone::<Event>();
}

#[test]
fn a_task_started_through_the_handle_is_decided_with_the_hash_its_decider_saw() {
    let dir = project(0);
    let svc = Service::start(dir.path(), "http").unwrap();
    let h = svc.handle();
    let mut rx = h.subscribe();
    rt().block_on(async {
        let run = h
            .start(
                "do the work",
                loom_guests::TESTKIT.to_vec(),
                None,
                human("ann"),
            )
            .await
            .unwrap();
        assert_eq!(run, 1);
        let (gate, shown) = wait_for(&mut rx, 30, |e| match e {
            Event::GateOpened {
                gate,
                shown_hash,
                decider: loom_kernel::Decider::Human,
                ..
            } => Some((*gate, shown_hash.clone())),
            _ => None,
        })
        .await;

        // An agent may not decide a human's gate; nothing is recorded.
        let mut d = Decision::new(
            &gate.to_string(),
            true,
            None,
            Origin::agent("claude", "mcp"),
        );
        d.shown_hash = Some(shown.clone());
        let err = h.decide(d).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Forbidden, "{err}");
        // A hash of other content is stale; nothing is recorded.
        let mut d = Decision::new("finish", true, None, human("ann"));
        d.shown_hash = Some("0123456789abcdef".into());
        let err = h.decide(d).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
        assert!(err.message.contains("other content"), "{err}");
        let status = h.reader().status().unwrap();
        assert_eq!(status.run.as_ref().unwrap().status, RunStatus::Waiting);
        assert_eq!(status.pending_gates.len(), 1);

        // The right decision, bound to what was shown (a prefix is enough).
        let mut d = Decision::new("finish", true, None, human("ann"));
        d.shown_hash = Some(shown[..12].to_owned());
        h.decide(d).await.unwrap();
        let status = wait_for(&mut rx, 30, |e| match e {
            Event::RunStatusChanged { status, .. } if *status == RunStatus::Done => Some(*status),
            _ => None,
        })
        .await;
        assert_eq!(status, RunStatus::Done);

        // Deciding it again is a conflict naming who decided it.
        let err = h
            .decide(Decision::new("finish", true, None, human("bob")))
            .await
            .unwrap_err();
        assert!(
            err.message.contains("already approved by ann via web"),
            "{err}"
        );
    });
    let gates = h.reader().gates(true).unwrap();
    assert_eq!(gates[0].status, GateStatus::Approved);
    assert_eq!(gates[0].decided_by.as_deref(), Some("ann"));
    assert_eq!(gates[0].transport.as_deref(), Some("web"));
    svc.shutdown();
    assert_replays(dir.path());
}

#[test]
fn a_second_driver_is_refused_while_the_service_runs() {
    let dir = project(0);
    let svc = Service::start(dir.path(), "http").unwrap();
    let err = Service::start(dir.path(), "mcp").err().unwrap();
    assert_eq!(err.kind, ErrorKind::Busy);
    assert!(err.message.contains("via http"), "{err}");
    let mut e = Engine::open(dir.path(), Box::new(Silent), "cli").unwrap();
    let err = e.start("x", loom_guests::TESTKIT, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(svc.holder().is_some_and(|h| h.transport == "http"));
    drop(svc);
    // The lock goes with the service.
    e.start("x", loom_guests::TESTKIT, None).unwrap();
}

#[test]
fn reads_answer_while_the_engine_waits_on_a_slow_agent_and_abandon_keeps_its_result() {
    let dir = project(1500);
    let svc = Service::start(dir.path(), "http").unwrap();
    let h = svc.handle();
    let mut rx = h.subscribe();
    rt().block_on(async {
        h.start(
            "do the work",
            loom_guests::TESTKIT.to_vec(),
            None,
            human("ann"),
        )
        .await
        .unwrap();
        wait_for(&mut rx, 30, |e| {
            matches!(e, Event::EffectStarted { .. }).then_some(())
        })
        .await;
        // The engine thread is inside a 1.5 s call; a read does not queue behind it.
        let t = Instant::now();
        let s = h.reader().status().unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(1000),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(
            s.in_flight.len(),
            1,
            "a live effect is in flight, not uncertain"
        );
        assert!(s.uncertain.is_empty());
        assert_eq!(
            s.driver.as_ref().map(|d| d.transport.as_str()),
            Some("http")
        );

        // Abandon while the call is in flight: recorded at the next boundary, its result kept.
        let r = h
            .abandon(Some("changed my mind".into()), human("ann"))
            .await
            .unwrap();
        assert_eq!(r.run.status, RunStatus::Abandoned);
    });
    let ledger = h.reader().ledger(1).unwrap();
    let work = ledger.iter().find(|l| l.key == "r1/work#1").unwrap();
    assert_eq!(
        work.status,
        LedgerStatus::Refused,
        "performed after abandon, kept"
    );
    assert!(
        work.meta.contains("\"unapplied\":\"abandoned\""),
        "{}",
        work.meta
    );
    let log = h.reader().log(Some(1)).unwrap();
    assert_eq!(log.last().unwrap().tick.kind, TickKind::Abandon);
    svc.shutdown();
    assert_replays(dir.path());
}

#[test]
fn ticks_committed_by_another_connection_reach_the_bus_once_each_in_order() {
    let dir = project(0);
    let bus = Bus::new();
    let mut rx = bus.subscribe();
    let _w = Watcher::spawn(project::db_path(dir.path()), bus.clone()).unwrap();
    let mut e = Engine::open(dir.path(), Box::new(Silent), "cli").unwrap();
    e.start("do the work", loom_guests::TESTKIT, None).unwrap();
    let committed = e.store().ticks(1).unwrap().len() as u64;
    let seen = rt().block_on(async {
        let mut seen = Vec::new();
        // The watcher looks every POLL_INTERVAL; a generous bound keeps a loaded machine
        // from failing a test that is about delivery, not speed.
        while seen.last() != Some(&committed) {
            let seq = wait_for(&mut rx, 5, |ev| match ev {
                Event::TickCommitted { seq, .. } => Some(*seq),
                _ => None,
            })
            .await;
            seen.push(seq);
        }
        seen
    });
    assert_eq!(seen, (1..=committed).collect::<Vec<_>>());
    let _ = Actor::Human;
}
