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
    let html =
        super::gates::card(&gate("accept", "Diff: <i>x</i>\nTests: passed"), &s).into_string();
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
    let html = super::gates::card(&gate(&name, "Step \"test\" was started"), &s).into_string();
    assert!(
        html.contains("Uncertain effect.") && html.contains("may or may not have happened"),
        "{html}"
    );

    let mut agents = gate("review", "look");
    agents.decider = loom_kernel::Decider::Agent;
    let html = super::gates::card(&agents, &s).into_string();
    assert!(
        !html.contains("<form"),
        "an agent's gate has no forms: {html}"
    );
}
