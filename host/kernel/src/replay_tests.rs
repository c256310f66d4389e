use crate::*;

struct FnRules<F: Fn(&View) -> std::result::Result<Vec<Violation>, String>>(F);

impl<F: Fn(&View) -> std::result::Result<Vec<Violation>, String>> Rules for FnRules<F> {
    fn check(&self, _: &TickToken, view: &View) -> std::result::Result<Vec<Violation>, String> {
        (self.0)(view)
    }
}

/// Fires while a fact of `kind` exists.
fn no_fact(
    kind: &'static str,
) -> FnRules<impl Fn(&View) -> std::result::Result<Vec<Violation>, String>> {
    FnRules(move |v: &View| {
        Ok(v.facts(kind)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| Violation {
                rule: format!("no-{kind}"),
                message: format!("fact {} exists", f.key),
                rows: vec![format!("fact:{kind}/{}", f.key)],
            })
            .collect())
    })
}

fn intent(store: &Store, t: &TickToken, key: &str, request: Option<&[u8]>) -> u32 {
    store
        .record_intent(
            t,
            &Intent {
                key,
                step: "work",
                kind: "agent",
                retry_safe: true,
                request,
            },
        )
        .unwrap()
}

/// A run with every kind of write: a second task (task id 2), an effect with a failed and a
/// superseded attempt, facts, a phase change, a human gate and its decision, a violation.
fn record(store: &Store) -> u64 {
    let new = |title: &str| NewRun {
        title: title.into(),
        bundle_name: "t".into(),
        bundle_version: "0.1.0".into(),
        bundle_hash: "h".into(),
        phase: "one".into(),
        settings: "{}".into(),
        options: r#"{"x":1}"#.into(),
    };
    let mut t = store.begin_run(&new("first"), None).unwrap();
    t.set_status(RunStatus::Abandoned, Some("dropped")).unwrap();
    t.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();

    let t = store.begin_run(&new("second"), None).unwrap();
    let run = t.token().run;
    t.commit(TickMeta::new(TickKind::Start, "start"), None)
        .unwrap();

    let tok = store.next_token(run).unwrap();
    assert_eq!(intent(store, &tok, "r/work#1", Some(b"prompt")), 1);
    store
        .record_failed_attempt(&tok, "r/work#1", 1, "timeout", r#"{"backend":"a"}"#)
        .unwrap();
    assert_eq!(intent(store, &tok, "r/work#1", Some(b"prompt")), 2);
    assert_eq!(intent(store, &tok, "r/work#1", Some(b"prompt")), 3);
    let mut t = store.begin(tok).unwrap();
    t.supersede("r/work#1", 2).unwrap();
    t.record_result("r/work#1", 3, Some(b"reply"), "ok", r#"{"backend":"b"}"#)
        .unwrap();
    t.put_fact("plan", "text", r#"{"text":"p"}"#).unwrap();
    t.set_phase("two").unwrap();
    t.note("planned");
    t.commit(
        TickMeta::new(TickKind::Effect, "work: ok").step("work"),
        None,
    )
    .unwrap();

    let mut t = store.begin(store.next_token(run).unwrap()).unwrap();
    t.open_gate("accept", Decider::Human, Risk::High, "ship it?")
        .unwrap();
    t.set_status(RunStatus::Waiting, None).unwrap();
    t.commit(TickMeta::new(TickKind::GateOpen, "gate accept"), None)
        .unwrap();
    let gate = store.gates(run).unwrap()[0].id;

    let tok = store.next_token(run).unwrap();
    intent(store, &tok, "r/work#2", None);
    let mut t = store.begin(tok).unwrap();
    t.record_result("r/work#2", 1, Some(b"bad"), "ok", "{}")
        .unwrap();
    t.put_fact("bad", "x", "{}").unwrap();
    let refused = t.commit(
        TickMeta::new(TickKind::Effect, "work").step("work"),
        Some(&no_fact("bad")),
    );
    assert!(matches!(refused, Err(KernelError::Violated(_))));

    let mut t = store.begin(store.next_token(run).unwrap()).unwrap();
    t.decide_gate(gate, true, Decider::Human, "human:ann", "cli", Some("fine"))
        .unwrap();
    t.drop_fact("plan", "text").unwrap();
    t.set_status(RunStatus::Done, None).unwrap();
    t.commit(
        TickMeta::new(TickKind::Decision, "approved").decider("human:ann"),
        None,
    )
    .unwrap();
    run
}

#[test]
fn every_kind_of_tick_replays_to_the_recorded_hash() {
    let store = Store::open_in_memory().unwrap();
    let run = record(&store);
    let mut replay = Replay::new(&store, run).unwrap();
    assert_eq!(replay.len(), 5);
    let mut n = 0;
    while let Some(r) = replay.step(&[]).unwrap() {
        assert_eq!(
            first_difference(&r.recorded, &r.replayed),
            None,
            "tick {}",
            r.recorded.seq
        );
        n += 1;
    }
    assert_eq!(n, 5);
    // The replayed state is the recorded one.
    let (a, b) = (
        store.ledger(run).unwrap(),
        replay.scratch().ledger(run).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(
        store.gates(run).unwrap(),
        replay.scratch().gates(run).unwrap()
    );
    assert_eq!(
        store.facts(run).unwrap(),
        replay.scratch().facts(run).unwrap()
    );
    assert_eq!(
        store.violations(run).unwrap(),
        replay.scratch().violations(run).unwrap()
    );
}

#[test]
fn swapped_rules_are_evaluated_at_every_commit_point() {
    let store = Store::open_in_memory().unwrap();
    let run = record(&store);
    let mut replay = Replay::new(&store, run).unwrap();
    let plan = no_fact("plan");
    let mut fired = Vec::new();
    while let Some(r) = replay.step(&[&plan]).unwrap() {
        if !r.verdicts[0].as_ref().unwrap().is_empty() {
            fired.push(r.recorded.seq);
        }
    }
    // The plan fact exists from the effect tick (2) until the decision drops it (5).
    assert_eq!(fired, vec![2, 3, 4]);
}

#[test]
fn an_edited_tick_is_reported_at_the_field_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loom.db");
    let run = record(&Store::open(&path, Durability::Normal).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE facts SET value = '{\"text\":\"q\"}' WHERE kind = 'plan'",
        [],
    )
    .unwrap();
    raw.execute("UPDATE gates SET summary = 'other text'", [])
        .unwrap();
    drop(raw);
    let store = Store::open_read_only(&path).unwrap();
    let mut replay = Replay::new(&store, run).unwrap();
    let mut diffs = Vec::new();
    while let Some(r) = replay.step(&[]).unwrap() {
        if let Some(d) = first_difference(&r.recorded, &r.replayed) {
            diffs.push((r.recorded.seq, d.0));
        }
    }
    // Facts are re-derived from the change list, so the edited fact row is not consulted; the
    // gate's text is an input, and its hash is chained.
    assert_eq!(diffs[0].0, 3);
    assert!(
        diffs[0]
            .1
            .starts_with("change 1 (gate-open), field shown_hash"),
        "{diffs:?}"
    );
}

#[test]
fn a_scratch_store_is_emptied_for_the_next_replay_and_a_project_store_never_is() {
    let store = Store::open_in_memory().unwrap();
    let run = record(&store);
    let replay_all = |scratch: Store| -> Store {
        let mut replay = Replay::with_scratch(&store, run, scratch).unwrap();
        let mut n = 0;
        while let Some(r) = replay.step(&[]).unwrap() {
            assert_eq!(first_difference(&r.recorded, &r.replayed), None);
            n += 1;
        }
        assert_eq!(n, 5);
        assert_eq!(
            store.gates(run).unwrap(),
            replay.scratch().gates(run).unwrap(),
            "gate ids start again from 1 in an emptied scratch"
        );
        assert_eq!(
            store.ledger(run).unwrap(),
            replay.scratch().ledger(run).unwrap()
        );
        replay.into_scratch()
    };
    // The same scratch three times over: each replay starts from nothing.
    let mut scratch = Store::open_in_memory().unwrap();
    for _ in 0..3 {
        scratch = replay_all(scratch);
    }
    scratch.clear_scratch().unwrap();
    assert!(scratch.runs().unwrap().is_empty());
    assert!(matches!(scratch.run(run), Err(KernelError::NoSuchRun(_))));

    // A database on a file is never emptied, and keeps every row.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loom.db");
    let on_disk = Store::open(&path, Durability::Normal).unwrap();
    let kept = record(&on_disk);
    let err = on_disk.clear_scratch().unwrap_err();
    assert!(matches!(err, KernelError::NotScratch(_)), "{err}");
    assert!(err.to_string().contains("loom.db"), "{err}");
    assert_eq!(on_disk.run(kept).unwrap().id, kept);
}
