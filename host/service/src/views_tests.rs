#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The dashboard's reads on a run written straight through the kernel.

use crate::Reader;
use loom_kernel::{Durability, Intent, NewRun, Store, TickKind, TickMeta};

/// A run of `n` ticks: the start, then effects alternating between an agent call (a prompt,
/// a reply, tokens, a failed first provider) and an applied diff.
fn run_of(root: &std::path::Path, n: u64) -> u64 {
    std::fs::create_dir_all(root.join(".loom")).unwrap();
    let store = Store::open(&loom_engine::project::db_path(root), Durability::Normal).unwrap();
    let new = NewRun {
        title: "the task".into(),
        bundle_name: "b".into(),
        bundle_version: "1".into(),
        bundle_hash: "0".repeat(64),
        phase: "work".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    for i in 2..=n {
        let token = store.next_token(run).unwrap();
        let key = format!("r{run}/work#{i}");
        let (kind, request, result, meta) = if i % 2 == 0 {
            (
                "agent",
                serde_json::json!({"role": "worker", "prompt": format!("prompt {i}")}),
                serde_json::json!({"agent": {"text": format!("<b>reply</b> {i}")}}),
                serde_json::json!({"input_tokens": 10, "output_tokens": 2, "cost_usd": 0.5,
                    "attempts": [
                        {"provider": "a", "model": "m", "outcome": "rate-limited", "message": "429"},
                        {"provider": "b", "model": "n", "outcome": "ok", "message": "fine"}]}),
            )
        } else {
            (
                "apply-diff",
                serde_json::json!({"diff": "--- a/x\n+++ b/x\n"}),
                serde_json::json!({"diff": {"applied": false, "error": "does not apply"}}),
                serde_json::json!({"latency_ms": 1}),
            )
        };
        let request = request.to_string();
        store
            .record_intent(
                &token,
                &Intent {
                    key: &key,
                    step: "work",
                    kind,
                    retry_safe: true,
                    request: Some(request.as_bytes()),
                },
            )
            .unwrap();
        let mut tick = store.begin(token).unwrap();
        tick.record_result(
            &key,
            1,
            Some(result.to_string().as_bytes()),
            "did",
            &meta.to_string(),
        )
        .unwrap();
        tick.commit(
            TickMeta::new(TickKind::Effect, format!("tick {i}")).step("work"),
            None,
        )
        .unwrap();
    }
    run
}

fn seqs(p: &crate::views::TickPage) -> Vec<u64> {
    p.ticks.iter().map(|t| t.tick.seq).collect()
}

#[test]
fn a_long_timeline_pages_back_from_its_newest_tick() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_of(dir.path(), 25);
    let r = Reader::new(dir.path());
    let newest = r.tick_page(run, None, 10).unwrap();
    assert_eq!(seqs(&newest), (16..=25).collect::<Vec<_>>());
    assert_eq!((newest.older, newest.newest), (Some(16), true));
    let older = r.tick_page(run, newest.older, 10).unwrap();
    assert_eq!(seqs(&older), (6..=15).collect::<Vec<_>>());
    assert_eq!((older.older, older.newest), (Some(6), false));
    let first = r.tick_page(run, older.older, 10).unwrap();
    assert_eq!(seqs(&first), (1..=5).collect::<Vec<_>>());
    assert_eq!(first.older, None);
    assert_eq!(first.title, "the task");
    // 12 agent calls at 10 + 2 tokens and $0.50 each; 24 rows in all.
    assert_eq!(
        (
            newest.usage.input_tokens,
            newest.usage.output_tokens,
            newest.usage.effects
        ),
        (120, 24, 24)
    );
    assert!((newest.usage.cost_usd.unwrap() - 6.0).abs() < 1e-9);
    assert!(r.tick_page(run + 1, None, 10).is_err(), "no such run");
}

#[test]
fn a_tick_opens_to_its_prompt_reply_diff_and_failed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_of(dir.path(), 3);
    let r = Reader::new(dir.path());
    let agent = r.tick_detail(run, 2).unwrap();
    let row = &agent.rows[0];
    assert_eq!(row.role.as_deref(), Some("worker"));
    assert_eq!(row.prompt.as_deref(), Some("prompt 2"));
    assert_eq!(row.reply.as_deref(), Some("<b>reply</b> 2"));
    assert_eq!(row.failed_calls.len(), 1, "{:?}", row.failed_calls);
    assert_eq!(
        (
            row.failed_calls[0].provider.as_str(),
            row.failed_calls[0].outcome.as_str()
        ),
        ("a", "rate-limited")
    );
    let diff = r.tick_detail(run, 3).unwrap();
    let row = &diff.rows[0];
    assert_eq!(row.diff.as_deref(), Some("--- a/x\n+++ b/x\n"));
    assert_eq!(row.diff_error.as_deref(), Some("does not apply"));
    assert!(row.reply.is_none() && row.prompt.is_none());
    assert!(r.tick_detail(run, 1).unwrap().rows.is_empty());
    assert!(r.tick_detail(run, 4).is_err(), "no tick 4");
    let runs = r.run_summaries().unwrap();
    assert_eq!(
        (runs.len(), runs[0].title.as_str(), runs[0].run.last_seq),
        (1, "the task", 3)
    );
}
