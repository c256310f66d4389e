//! `cargo bench -p loom-http --bench run_page [-- --ticks N --rounds N]`
//!
//! The server-side cost of the dashboard's run page for a long run: a run of 10,000 ticks
//! (by default), each an effect with a ledger row holding a prompt and a reply (every third
//! one a diff), written through the kernel into a real `.loom/loom.db`; then, per round, what
//! the page handler does: read the newest timeline page (each tick with its rows opened up)
//! on a fresh read-only connection, and render the HTML. Prints the median and the worst
//! round; the target is a median of at most 50 ms.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use loom_kernel::{Durability, Intent, NewRun, Store, TickKind, TickMeta};
use loom_service::Reader;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn build(root: &std::path::Path, ticks: usize) -> u64 {
    std::fs::create_dir_all(root.join(".loom")).expect("mkdir");
    let store =
        Store::open(&loom_engine::project::db_path(root), Durability::Normal).expect("open");
    let new = NewRun {
        title: "Fix median() for lists of even length".into(),
        bundle_name: "code".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "0".repeat(64),
        phase: "implement".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).expect("run");
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .expect("start");
    let prompt = "You are implementing a change to a software repository.\n".repeat(10);
    let diff = "--- a/stats.py\n+++ b/stats.py\n@@ -10,4 +10,6 @@\n ordered = sorted(values)\n\
                +    if len(ordered) % 2 == 0:\n+        return (ordered[middle - 1] + ordered[middle]) / 2\n\
                -    return ordered[middle]\n"
        .repeat(4);
    for i in 1..ticks {
        let token = store.next_token(run).expect("token");
        let key = format!("r{run}/work#{i}");
        let (kind, request, result) = if i % 3 == 0 {
            (
                "apply-diff",
                serde_json::json!({"diff": diff}),
                serde_json::json!({"diff": {"applied": true, "touched": ["stats.py"], "error": null}}),
            )
        } else {
            (
                "agent",
                serde_json::json!({"role": "implementer", "prompt": format!("{prompt}step {i}")}),
                serde_json::json!({"agent": {"text": format!("1. fix <b>the</b> even case, round {i}\n"), "touched": []}}),
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
            .expect("intent");
        let mut tick = store.begin(token).expect("begin");
        let meta = r#"{"input_tokens":120,"output_tokens":40,"cost_usd":0.0012}"#;
        tick.record_result(
            &key,
            1,
            Some(result.to_string().as_bytes()),
            "implementer replied",
            meta,
        )
        .expect("result");
        tick.commit(
            TickMeta::new(TickKind::Effect, format!("work: round {i}")).step("work"),
            None,
        )
        .expect("commit");
    }
    run
}

fn main() {
    let ticks = arg("--ticks", 10_000);
    let rounds = arg("--rounds", 30);
    let tmp = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let run = build(tmp.path(), ticks);
    println!(
        "built a run of {ticks} ticks in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let reader = Reader::new(tmp.path());
    let (mut read_ms, mut render_ms, mut total_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let page = reader
            .tick_page(run, None, loom_http::web::TIMELINE_PAGE)
            .expect("page");
        let read = t.elapsed();
        let html = loom_http::web::render_run_page(
            &page,
            None,
            "csrf",
            &Default::default(),
            &Default::default(),
        );
        let all = t.elapsed();
        assert_eq!(page.ticks.len(), loom_http::web::TIMELINE_PAGE);
        assert!(html.contains(&format!("round {}", ticks - 1)));
        bytes = html.len();
        read_ms.push(read.as_secs_f64() * 1e3);
        render_ms.push((all - read).as_secs_f64() * 1e3);
        total_ms.push(all.as_secs_f64() * 1e3);
    }
    let worst = total_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "run page of {ticks} ticks ({} per page, {} KiB of HTML), {rounds} rounds:",
        loom_http::web::TIMELINE_PAGE,
        bytes / 1024
    );
    println!("  read   median {:.2} ms", median(&mut read_ms));
    println!("  render median {:.2} ms", median(&mut render_ms));
    println!(
        "  total  median {:.2} ms (worst {worst:.2} ms; target <= 50 ms)",
        median(&mut total_ms)
    );
}
