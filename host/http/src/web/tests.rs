#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::layout;
use super::tick;

#[test]
fn a_diff_is_coloured_by_line_and_its_markup_escaped() {
    let d = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<b>old</b>\n+<script>alert(1)</script>\n same";
    let html = tick::diff(d).into_string();
    assert!(
        html.contains(r#"<span class="del">-&lt;b&gt;old&lt;/b&gt;</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="add">+&lt;script&gt;alert(1)&lt;/script&gt;</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="hunk">@@ -1 +1 @@</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="meta">--- a/x</span>"#),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
}

#[test]
fn times_durations_and_clips_read_as_people_write_them() {
    assert_eq!(layout::time(0), "1970-01-01 00:00:00");
    assert_eq!(layout::time(1_796_169_349_000), "2026-12-01 23:55:49");
    assert_eq!(layout::time(951_782_400_000), "2000-02-29 00:00:00");
    assert_eq!(layout::duration(4_200), "4.2s");
    assert_eq!(layout::duration(187_000), "3m 07s");
    assert_eq!(layout::duration(3_720_000), "1h 02m");
    assert_eq!(layout::clip("héllo", 2), ("h", true));
    assert_eq!(layout::clip("abc", 5), ("abc", false));
}

#[test]
fn every_page_forbids_inline_script_and_loads_only_its_own_files() {
    let r = layout::page("x", layout::Nav::Runs, maud::html! { p { "<i>hi</i>" } });
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = layout::shell("x", layout::Nav::Runs, maud::html! { p { "<i>hi</i>" } });
    assert!(html.contains("&lt;i&gt;hi&lt;/i&gt;"), "{html}");
    assert!(
        html.contains(r#"<script src="/static/live.js"></script>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/runs" aria-current="page">Runs</a>"#),
        "{html}"
    );
}

fn gate(name: &str, summary: &str) -> loom_kernel::Gate {
    loom_kernel::Gate {
        id: 12,
        run_id: 1,
        name: name.into(),
        status: loom_kernel::GateStatus::Pending,
        decider: loom_kernel::Decider::Human,
        risk: loom_kernel::Risk::High,
        summary: summary.into(),
        shown_hash: "ab".repeat(32),
        opened_tick: 12,
        decided_tick: None,
        decided_by: None,
        transport: None,
        note: None,
    }
}

#[test]
fn a_gate_card_shows_its_text_and_binds_both_forms_to_its_hash_and_session() {
    let s = super::Session {
        csrf: "c5rf".into(),
    };
    let html = super::gates::card(&gate("accept", "Diff: <i>x</i>\nTests: passed"), &s, false)
        .into_string();
    assert!(
        html.contains("Diff: &lt;i&gt;x&lt;/i&gt;\nTests: passed"),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"name="csrf" value="c5rf""#).count(),
        2,
        "{html}"
    );
    let hash = format!(r#"name="shown_hash" value="{}""#, "ab".repeat(32));
    assert_eq!(html.matches(&hash).count(), 2, "{html}");
    assert!(html.contains(r#"action="/gates/12/decide""#), "{html}");
    assert!(
        html.contains(r#"<textarea id="reason-1-12" name="reason" required"#),
        "{html}"
    );
    assert!(html.contains(r#"<label for="reason-1-12">"#), "{html}");
    assert!(!html.contains("Uncertain effect"), "{html}");

    let name = format!("{}r1/test#1#1", loom_engine::UNCERTAIN_PREFIX);
    let html =
        super::gates::card(&gate(&name, "Step \"test\" was started"), &s, false).into_string();
    assert!(
        html.contains("Uncertain effect.") && html.contains("may or may not have happened"),
        "{html}"
    );

    let mut agents = gate("review", "look");
    agents.decider = loom_kernel::Decider::Agent;
    let html = super::gates::card(&agents, &s, true).into_string();
    assert!(
        !html.contains("<form"),
        "an agent's gate has no forms: {html}"
    );
    // A gate its bundle marks editable offers a third form, starting from the shown text.
    let html = super::gates::card(&gate("plan", "1. <b>do</b> it"), &s, true).into_string();
    assert_eq!(html.matches("<form").count(), 3, "{html}");
    assert!(
        html.contains(r#"<textarea id="edit-1-12" name="edited" required rows="8">1. &lt;b&gt;do&lt;/b&gt; it</textarea>"#),
        "{html}"
    );
    let html = super::gates::card(&gate("plan", "x"), &s, false).into_string();
    assert!(!html.contains(r#"name="edited""#), "{html}");
}

fn tick(seq: u64, kind: loom_kernel::TickKind, summary: &str) -> loom_service::views::TickDetail {
    loom_service::views::TickDetail {
        tick: loom_kernel::TickRow {
            run_id: 1,
            seq,
            unix_ms: 1_796_169_349_000 + seq,
            kind,
            step: Some("review".into()),
            decider: None,
            summary: summary.into(),
            changes: "[]".into(),
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        },
        rows: Vec::new(),
    }
}

#[test]
fn an_older_page_of_a_run_links_both_ways_and_shows_findings_and_violations_as_text() {
    let page = loom_service::views::TickPage {
        run: loom_kernel::Run {
            id: 1,
            task_id: 1,
            bundle_name: "code".into(),
            bundle_version: "0.1.0".into(),
            bundle_hash: "0".repeat(64),
            status: loom_kernel::RunStatus::Stopped,
            phase: "review".into(),
            settings: "{}".into(),
            stop_reason: Some("rule <no-secrets> fired".into()),
            created_ms: 1_796_169_349_000,
            last_seq: 400,
            options: "{}".into(),
        },
        ticks: (200..=201)
            .map(|s| tick(s, loom_kernel::TickKind::Effect, "reviewer said <b>hi</b>"))
            .collect(),
        older: Some(200),
        newest: false,
        usage: loom_service::views::Usage::default(),
        title: "fix <it>".into(),
        gates: Vec::new(),
        facts: vec![loom_kernel::Fact {
            kind: "finding".into(),
            key: "F1".into(),
            value: r#"{"severity":"blocking","status":"open","path":"a.py","text":"<img src=x>"}"#
                .into(),
            tick: 7,
        }],
        violations: vec![loom_kernel::ViolationRow {
            run_id: 1,
            seq: 9,
            unix_ms: 0,
            step: Some("apply".into()),
            rule: "no-secrets".into(),
            message: "a key in <code>".into(),
            rows: vec!["fact:diff/latest".into()],
        }],
    };
    let html = super::render_run_page(&page, None, "tok", &Default::default(), &Default::default());
    assert!(
        html.contains(r#"<a href="?before=200">‹ older ticks</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/runs/1">newest ticks ›</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"data-newest="false""#), "{html}");
    assert!(
        html.contains("reviewer said &lt;b&gt;hi&lt;/b&gt;"),
        "{html}"
    );
    assert!(html.contains("fix &lt;it&gt;") && html.contains("rule &lt;no-secrets&gt; fired"));
    assert!(
        html.contains(r#"<span class="badge blocking">blocking</span>"#),
        "{html}"
    );
    assert!(
        html.contains("&lt;img src=x&gt;") && !html.contains("<img"),
        "{html}"
    );
    assert!(html.contains("a key in &lt;code&gt;"), "{html}");
    assert!(html.contains("<code>fact:diff/latest</code>"), "{html}");
    assert!(
        html.contains(r#"<a href="/runs/1/ticks/9">#9</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="csrf" value="tok""#),
        "the replay form: {html}"
    );
    assert!(html.contains("Verify the hash chain"), "{html}");
}
