//! The API's run reads (runs, one run, an attempt with its texts) and replay over HTTP, on
//! the run `test_serve` drove to its end.

use crate::test_serve::{client, Server};
use serde_json::{json, Value};

/// The run reads and replay of the API on a finished run.
pub fn runs_attempts_and_replay_over_http(server: &Server, token: &str, run: u64) {
    let http = client();
    let get = |path: &str| -> Value {
        let r = http
            .get(server.url(path))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().unwrap()
    };
    let runs = get("runs?status=done");
    assert_eq!(runs["runs"][0]["run"]["id"], run, "{runs}");
    assert_eq!(
        runs["runs"][0]["task"]["title"], "Fix median() for lists of even length",
        "{runs}"
    );
    assert_eq!(get("runs?status=waiting")["runs"], json!([]));

    let one = get(&format!("runs/{run}?limit=2"));
    assert_eq!(one["ticks"]["ticks"].as_array().unwrap().len(), 2, "{one}");
    assert_eq!(one["ticks"]["next"], 2, "{one}");
    assert_eq!(one["ticks"]["ticks"][0]["tick"]["kind"], "start", "{one}");
    assert!(one["run"]["settings"].is_object(), "{one}");
    let accept = one["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "accept")
        .unwrap();
    assert_eq!(accept["status"], "approved", "{one}");

    // One attempt of an agent step, with the prompt it rendered and the reply it got.
    let ledger = get(&format!("runs/{run}/ledger"));
    let row = ledger
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "agent" && l["request_hash"].is_string())
        .unwrap_or_else(|| panic!("no agent row: {ledger}"));
    let key = row["key"].as_str().unwrap();
    let attempt = http
        .get(server.url(&format!("runs/{run}/attempt?key={}", encode(key))))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(attempt.status(), 200);
    let attempt: Value = attempt.json().unwrap();
    assert!(attempt["row"]["meta"].is_object(), "{attempt}");
    assert!(
        attempt["request"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "the rendered prompt: {attempt}"
    );
    assert!(
        attempt["result"]["bytes"].as_u64().unwrap() > 0,
        "{attempt}"
    );

    // Replay over HTTP: identical; with an uploaded rule set, the rule fires.
    let replay = |body: Vec<u8>| -> Value {
        let r = http
            .post(server.url(&format!("replay?run={run}")))
            .bearer_auth(token)
            .header("content-type", "application/wasm")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    };
    let plain = replay(Vec::new());
    assert_eq!(
        (&plain["identical"], &plain["first_difference"]),
        (&json!(true), &Value::Null),
        "{plain}"
    );
    let ruled = replay(loom_guests::HUMAN_GATES.to_vec());
    assert_eq!(ruled["identical"], true, "{ruled}");
    assert_eq!(ruled["fired"], true, "{ruled}");
    assert_eq!(
        ruled["runs"][0]["firings"][0]["rule"], "humans-decide-every-gate",
        "{ruled}"
    );
    assert!(ruled["runs"][0].get("millis").is_none(), "{ruled}");
}

/// `s` as one query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
