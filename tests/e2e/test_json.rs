//! `--json`: one vocabulary with the HTTP API. JSON-holding fields are JSON, tick kinds have
//! one spelling in `log` and `replay --ticks`, errors are JSON on stderr, and `replay --json`
//! is byte-for-byte stable. Shapes are snapshots (`snapshots/`): a renamed, retyped, added or
//! dropped field fails here until the snapshot is reviewed.

use crate::common::*;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The shape of `v`: every leaf replaced by its type, a list by the merged shape of its
/// elements (objects: the union of their fields), so the snapshot holds the vocabulary,
/// not the run's content.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => {
            let merged = items.iter().map(shape).reduce(merge);
            Value::Array(merged.into_iter().collect())
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, vb) in b {
                let va = a.remove(&k);
                a.insert(k, va.map_or(vb.clone(), |va| merge(va, vb)));
            }
            Value::Object(a)
        }
        (Value::Array(a), Value::Array(b)) => {
            Value::Array(a.into_iter().chain(b).reduce(merge).into_iter().collect())
        }
        (a, b) if a == b => a,
        // A field that is sometimes null is an option of the other type.
        (a, b) if a == "null" => optional(b),
        (a, b) if b == "null" => optional(a),
        (a, b) if a.as_str().is_some_and(|s| s.ends_with('?')) && b.is_string() => a,
        (a, b) if b.as_str().is_some_and(|s| s.ends_with('?')) && a.is_string() => b,
        (a, b) => json!(format!("{} | {}", a, b)),
    }
}

fn optional(v: Value) -> Value {
    match v.as_str() {
        Some(s) if s.ends_with('?') => v,
        Some(s) => json!(format!("{s}?")),
        // An object or a list that is sometimes null.
        None => json!({"nullable": v}),
    }
}

fn json_out(dir: &Path, args: &[&str], code: i32) -> Value {
    let o = loom(dir, args);
    let t = expect_code(&o, code);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{t}"))
}

/// The JSON error a failed `--json` command prints on stderr.
fn json_error(dir: &Path, args: &[&str], code: i32) -> Value {
    let o = loom(dir, args);
    let t = expect_code(&o, code);
    assert!(
        o.stdout.is_empty(),
        "an error prints nothing on stdout: {t}"
    );
    serde_json::from_slice(&o.stderr)
        .unwrap_or_else(|e| panic!("{args:?}: no JSON error ({e}):\n{t}"))
}

#[test]
fn json_output_speaks_one_vocabulary_with_json_fields_as_json() {
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(&config("supervised", ""), &replies);
    expect_code(
        &loom(&dir, &["run", "Fix median() for lists of even length"]),
        10,
    );

    let log = json_out(&dir, &["log", "--json"], 0);
    let ticks = log.as_array().unwrap();
    let kinds: Vec<&str> = ticks
        .iter()
        .map(|e| e["tick"]["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"gate-open"), "{kinds:?}");
    for e in ticks {
        assert!(e["tick"]["changes"].is_array(), "changes is JSON: {e}");
        for l in e["ledger"].as_array().unwrap() {
            assert!(l["meta"].is_object(), "meta is JSON: {l}");
        }
    }
    insta::assert_json_snapshot!("log_shape", shape(&log));

    let status = json_out(&dir, &["status", "--json"], 0);
    assert!(status["run"]["settings"].is_object(), "{status}");
    assert!(status["run"]["options"]["format"].is_number(), "{status}");
    insta::assert_json_snapshot!("status_shape", shape(&status));
    insta::assert_json_snapshot!(
        "gates_shape",
        shape(&json_out(&dir, &["gates", "--json"], 0))
    );
    insta::assert_json_snapshot!(
        "verify_shape",
        shape(&json_out(&dir, &["verify", "--json"], 0))
    );

    // `replay --ticks` spells each tick's kind as `log` does, and a replay is stable.
    let replayed = json_out(&dir, &["replay", "--ticks", "--json"], 0);
    let replay_kinds: Vec<&str> = replayed[0]["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(replay_kinds, kinds);
    let once = loom(&dir, &["replay", "--all", "--json"]);
    let twice = loom(&dir, &["replay", "--all", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&once.stdout),
        String::from_utf8_lossy(&twice.stdout),
        "the same recording replays to the same report"
    );
    insta::assert_json_snapshot!("replay_shape", shape(&replayed));
    assert_replays_identically(&dir);
}

#[test]
fn errors_under_json_are_json_with_the_kind_and_the_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    // Not a project: a usage error.
    let e = json_error(tmp.path(), &["status", "--json"], 2);
    assert_eq!(
        (e["kind"].as_str(), e["exit_code"].as_u64()),
        (Some("usage"), Some(2)),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains(".loom"), "{e}");
    // A command line clap refuses, under --json.
    let e = json_error(tmp.path(), &["log", "--json", "--no-such-flag"], 2);
    assert_eq!(e["kind"], "usage", "{e}");
    insta::assert_json_snapshot!(
        "error_shape",
        Value::Object(Map::from_iter(
            e.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), shape(v)))
        ))
    );
    // Without --json, errors stay text.
    let o = loom(tmp.path(), &["status"]);
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: "));
}
