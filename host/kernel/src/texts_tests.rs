use super::*;
use crate::*;
use std::borrow::Cow;

fn started() -> (Store, u64) {
    let store = Store::open_in_memory().unwrap();
    let new = NewRun {
        title: "texts".into(),
        bundle_name: "t".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "h".into(),
        phase: "one".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).unwrap();
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();
    (store, run)
}

fn count(store: &Store, sql: &str) -> i64 {
    store.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The rows of `table` whose column `col` holds a reference rather than the text.
fn references(store: &Store, table: &str, col: &str) -> i64 {
    count(
        store,
        &format!("SELECT count(*) FROM {table} WHERE typeof({col}) = 'blob'"),
    )
}

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// Commits one tick writing the same long fact, note and gate text.
fn long_tick(store: &Store, run: u64, text: &str) -> TickRow {
    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
    tick.put_fact("item", "f1", text).unwrap();
    tick.note(text);
    tick.open_gate("accept", Decider::Human, Risk::Low, text)
        .unwrap();
    tick.commit(TickMeta::new(TickKind::Effect, text).step("s"), None)
        .unwrap()
}

#[test]
fn long_texts_are_stored_once_as_blobs_and_read_back_the_same() {
    let (store, run) = started();
    let text = long('é', 50_000);
    let first = long_tick(&store, run, &text);
    let second = long_tick(&store, run, &text);

    // Every long text reads back whole, through every read path.
    assert_eq!(
        store.view(run).fact("item", "f1").unwrap().unwrap().value,
        text
    );
    assert_eq!(store.view(run).facts("item").unwrap()[0].value, text);
    assert_eq!(store.facts(run).unwrap()[0].value, text);
    let gates = store.view(run).gates().unwrap();
    assert!(gates.iter().all(|g| g.summary == text));
    let ticks = store.ticks(run).unwrap();
    assert_eq!(ticks[1].summary, text);
    assert_eq!(ticks[1].changes, first.changes);
    assert_eq!(ticks[2].changes, second.changes);
    assert!(first.changes.contains(&text));

    // No long text is inline, and each distinct text is kept once: the fact, the gates'
    // texts and the tick summaries are the same text; each tick's change list is its own.
    for (table, col) in [
        ("facts", "value"),
        ("gates", "summary"),
        ("ticks", "summary"),
    ] {
        assert_eq!(
            count(
                &store,
                &format!("SELECT count(*) FROM {table} WHERE length(CAST({col} AS BLOB)) > 4096")
            ),
            0,
            "{table}.{col}"
        );
    }
    assert_eq!(references(&store, "gates", "summary"), 2);
    // The change lists hold references only, short enough to stay in their rows.
    assert_eq!(references(&store, "ticks", "changes"), 0);
    assert!(count(&store, "SELECT max(length(changes)) FROM ticks") < 1024);
    // One blob for the text, held by both facts rows, both gates, both summaries and both
    // change lists (twice each: the note and the fact).
    assert_eq!(count(&store, "SELECT count(*) FROM blobs"), 1);

    // The chain still covers the texts themselves: it verifies, and replays identically.
    assert!(verify_chain(&ticks).is_ok());
    assert_eq!(ticks[1].hash, first.hash);
    let mut replay = Replay::new(&store, run).unwrap();
    let mut replayed = 0;
    while let Some(r) = replay.step(&[]).unwrap() {
        assert_eq!(first_difference(&r.recorded, &r.replayed), None);
        replayed += 1;
    }
    assert_eq!(replayed, 3);
    assert_eq!(replay.scratch().facts(run).unwrap()[0].value, text);
}

#[test]
fn short_texts_stay_in_their_rows() {
    let (store, run) = started();
    let text = long('x', TEXT_INLINE_BYTES_MAX - 200);
    long_tick(&store, run, &text);
    assert_eq!(references(&store, "facts", "value"), 0);
    assert_eq!(references(&store, "gates", "summary"), 0);
    assert_eq!(references(&store, "ticks", "summary"), 0);
    // The change list, holding the text twice, is over the limit on its own and moves.
    assert_eq!(references(&store, "ticks", "changes"), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM blobs"), 1);
}

#[test]
fn long_ledger_texts_decision_notes_and_violations_move_too() {
    let (store, run) = started();
    let text = long('n', 10_000);
    let meta = format!("{{\"error\":\"{text}\"}}");
    let t = store.next_token(run).unwrap();
    let intent = Intent {
        key: "k",
        step: "s",
        kind: "agent",
        retry_safe: true,
        request: None,
    };
    let attempt = store.record_intent(&t, &intent).unwrap();
    store
        .record_failed_attempt(&t, "k", attempt, &text, &meta)
        .unwrap();
    let row = &store.attempts(run, "k").unwrap()[0];
    assert_eq!(
        (row.summary.as_str(), row.meta.as_str()),
        (text.as_str(), meta.as_str())
    );
    assert_eq!(references(&store, "ledger", "summary"), 1);
    assert_eq!(references(&store, "ledger", "meta"), 1);

    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
    let gate = tick
        .open_gate("accept", Decider::Human, Risk::Low, "short")
        .unwrap();
    tick.commit(TickMeta::new(TickKind::GateOpen, "open"), None)
        .unwrap();
    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
    tick.decide_gate(gate, false, Decider::Human, "ann", "cli", Some(&text))
        .unwrap();
    tick.commit(TickMeta::new(TickKind::Decision, "decide"), None)
        .unwrap();
    assert_eq!(
        store.view(run).gates().unwrap()[0].note.as_deref(),
        Some(text.as_str())
    );
    assert_eq!(references(&store, "gates", "note"), 1);

    struct Refuse(String);
    impl Rules for Refuse {
        fn check(&self, _: &TickToken, _: &View) -> std::result::Result<Vec<Violation>, String> {
            Ok(vec![Violation {
                rule: "r".into(),
                message: self.0.clone(),
                rows: vec![self.0.clone()],
            }])
        }
    }
    let mut tick = store.begin(store.next_token(run).unwrap()).unwrap();
    tick.note("refused");
    let rules = Refuse(text.clone());
    let _ = tick.commit(TickMeta::new(TickKind::Effect, "s"), Some(&rules));
    let v = &store.violations(run).unwrap()[0];
    assert_eq!(
        (v.message.as_str(), v.rows.as_slice()),
        (text.as_str(), &[text.clone()][..])
    );
    assert_eq!(references(&store, "violations", "message"), 1);
    assert_eq!(references(&store, "violations", "rows"), 1);
}

/// A reference whose blob is gone is damage, reported as an error, never an empty text.
#[test]
fn a_missing_text_blob_is_an_error_not_an_empty_text() {
    let (store, run) = started();
    long_tick(&store, run, &long('m', 20_000));
    store.conn.execute("DELETE FROM blobs", []).unwrap();
    assert!(store.view(run).fact("item", "f1").is_err());
    assert!(store.view(run).gates().is_err());
    assert!(store.ticks(run).is_err());
}

#[test]
fn a_change_list_keeps_every_byte_through_compact_and_expand() {
    let store = Store::open_in_memory().unwrap();
    let awkward = format!(
        "quote \" backslash \\ tab \t nul \u{0} {} emoji 🧵 {}",
        super::REF_OPEN,
        long('y', 5_000)
    );
    let writes = vec![
        Write::Note {
            text: awkward.clone(),
        },
        Write::Note {
            text: "short".into(),
        },
        Write::Refused {
            changes: vec![Write::Note {
                text: long('z', 9_000),
            }],
        },
    ];
    let json = serde_json::to_string(&writes).unwrap();
    let compact = compact_json(&store.conn, &json).unwrap();
    assert!(compact.len() < 1024, "{compact}");
    assert_eq!(
        expand_json(&store.conn, compact.into_owned()).unwrap(),
        json
    );
    // A short list, or one with no long string, is kept as it is.
    let short = serde_json::to_string(&writes[1..2]).unwrap();
    assert!(matches!(
        compact_json(&store.conn, &short).unwrap(),
        Cow::Borrowed(_)
    ));
}
