use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::Message;

/// A script in a fresh directory; the directory lives as long as the returned guard.
fn script(toml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.toml");
    std::fs::write(&path, toml).unwrap();
    (dir, path)
}

fn provider(path: &Path) -> ScriptedProvider {
    ScriptedProvider::load_with_env_log(path, None).unwrap()
}

fn request(role: &str, turn: u32) -> Request {
    Request {
        role: role.to_string(),
        turn,
        effect_key: format!("r1.t{turn}.{role}#1"),
        model: None,
        system: Some("be brief".to_string()),
        messages: vec![Message::user("review this diff please")],
        max_tokens: 1000,
        workdir: PathBuf::from("."),
        edits_tree: false,
        timeout: Duration::from_secs(60),
    }
}

fn ask(p: &ScriptedProvider, req: &Request) -> (Result<Response, ProviderError>, Vec<Progress>) {
    let mut seen = Vec::new();
    let result = p.complete(req, &mut |event| seen.push(event));
    (result, seen)
}

fn text(p: &ScriptedProvider, role: &str, turn: u32) -> String {
    ask(p, &request(role, turn)).0.unwrap().text
}

const TWO_ROLES: &str = r#"
[[reply]]
role = "planner"
text = "plan A"

[[reply]]
role = "reviewer"
text = "review 0"

[[reply]]
role = "planner"
text = "plan B"

[[reply]]
role = "reviewer"
text = "review 1"
"#;

#[test]
fn the_nth_reply_of_a_role_answers_its_turn_n() {
    let (_dir, path) = script(TWO_ROLES);
    let p = provider(&path);
    assert_eq!(text(&p, "planner", 0), "plan A");
    assert_eq!(text(&p, "planner", 1), "plan B");
    assert_eq!(text(&p, "reviewer", 1), "review 1");
    // Position-based, so asking again (as a resumed run does) gives the same answer.
    assert_eq!(text(&p, "planner", 0), "plan A");
    assert_eq!(text(&p, "reviewer", 0), "review 0");
}

#[test]
fn an_explicit_turn_wins_and_is_skipped_by_positional_counting() {
    let (_dir, path) = script(
        r#"
[[reply]]
role = "fixer"
text = "positional 0"

[[reply]]
role = "fixer"
turn = 1
text = "explicit 1"

[[reply]]
role = "fixer"
text = "positional 1"

[[reply]]
role = "fixer"
turn = 7
text = "explicit 7"
"#,
    );
    let p = provider(&path);
    assert_eq!(text(&p, "fixer", 0), "positional 0");
    assert_eq!(text(&p, "fixer", 1), "explicit 1");
    assert_eq!(text(&p, "fixer", 7), "explicit 7");
    // "positional 1" is turn 1's positional reply, shadowed by the explicit one; turn 2 looks
    // for a third positional reply and finds none.
    let err = ask(&p, &request("fixer", 2)).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
}

#[test]
fn a_missing_reply_is_a_permanent_error_that_says_what_to_add() {
    let (_dir, path) = script(TWO_ROLES);
    let p = provider(&path);
    let err = ask(&p, &request("planner", 2)).0.unwrap_err();
    let expected = format!(
        "script {} has no reply for role planner turn 2 (it has 2 for planner); \
         add a [[reply]] with role = \"planner\"",
        path.display()
    );
    assert_eq!(
        err,
        ProviderError::Permanent {
            provider: "scripted".into(),
            message: expected
        }
    );

    let err = ask(&p, &request("tester", 0)).0.unwrap_err();
    assert!(err.to_string().contains("(it has 0 for tester)"), "{err}");
}

#[test]
fn a_reply_reports_usage_model_cost_and_progress() {
    let (_dir, path) = script(
        r#"
[[reply]]
role = "planner"
text = "three words here"

[[reply]]
role = "reviewer"
text = "ok"
model = "fake-opus"
input_tokens = 1200
output_tokens = 34
cost_usd = 0.25
stop_reason = "max_tokens"
"#,
    );
    let p = provider(&path);
    let (result, progress) = ask(&p, &request("planner", 0));
    let response = result.unwrap();
    assert_eq!(response.provider, "scripted");
    assert_eq!(response.model, "scripted");
    // Defaults are word counts: 2 system words + 4 message words in; 3 words out.
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 6,
            output_tokens: 3
        }
    );
    assert_eq!(response.cost_usd, None);
    assert_eq!(response.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        progress,
        vec![
            Progress::Started {
                provider: "scripted".into(),
                model: "scripted".into()
            },
            Progress::Tokens { output_tokens: 3 },
        ]
    );

    let response = ask(&p, &request("reviewer", 0)).0.unwrap();
    assert_eq!(response.model, "fake-opus");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 1200,
            output_tokens: 34
        }
    );
    assert_eq!(response.cost_usd, Some(0.25));
    assert_eq!(response.stop_reason.as_deref(), Some("max_tokens"));
}

#[test]
fn error_replies_answer_with_that_error() {
    let (_dir, path) = script(
        r#"
[[reply]]
role = "a"
error = "transient"
text = "529 overloaded"
retry_after_ms = 1500

[[reply]]
role = "b"
error = "permanent"
text = "context too long"

[[reply]]
role = "c"
error = "config"
text = "not logged in"
"#,
    );
    let p = provider(&path);
    let err = ask(&p, &request("a", 0)).0.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Transient {
            provider: "scripted".into(),
            message: "529 overloaded".into(),
            retry_after: Some(Duration::from_millis(1500)),
        }
    );
    assert!(err.is_transient());
    let err = ask(&p, &request("b", 0)).0.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Permanent {
            provider: "scripted".into(),
            message: "context too long".into()
        }
    );
    let err = ask(&p, &request("c", 0)).0.unwrap_err();
    assert_eq!(err.message(), "not logged in");
    assert!(err.hint().unwrap().contains("[[reply]] #2"), "{err}");
}

#[test]
fn the_log_gets_one_line_per_returned_reply_and_none_for_errors() {
    let (dir, path) = script(&format!(
        "log = \"calls.jsonl\"\n{TWO_ROLES}\n{}",
        ERROR_REPLY
    ));
    let p = provider(&path);
    assert_eq!(p.log_path(), Some(dir.path().join("calls.jsonl").as_path()));
    text(&p, "reviewer", 1);
    text(&p, "planner", 0);
    ask(&p, &request("broken", 0)).0.unwrap_err();
    ask(&p, &request("planner", 9)).0.unwrap_err();

    let log = std::fs::read_to_string(dir.path().join("calls.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            serde_json::json!({"role": "reviewer", "turn": 1, "effect_key": "r1.t1.reviewer#1", "reply_index": 3}),
            serde_json::json!({"role": "planner", "turn": 0, "effect_key": "r1.t0.planner#1", "reply_index": 0}),
        ]
    );
}

const ERROR_REPLY: &str = "[[reply]]\nrole = \"broken\"\nerror = \"permanent\"\ntext = \"no\"\n";

#[test]
fn the_env_log_overrides_the_script_and_with_log_overrides_both() {
    let (dir, path) = script(&format!("log = \"calls.jsonl\"\n{TWO_ROLES}"));
    let env_log = dir.path().join("env.jsonl");
    let p = ScriptedProvider::load_with_env_log(&path, Some(env_log.clone().into())).unwrap();
    assert_eq!(p.log_path(), Some(env_log.as_path()));
    text(&p, "planner", 0);
    assert_eq!(
        std::fs::read_to_string(&env_log).unwrap().lines().count(),
        1
    );
    assert!(!dir.path().join("calls.jsonl").exists());

    // An empty variable counts as unset.
    let p = ScriptedProvider::load_with_env_log(&path, Some("".into())).unwrap();
    assert_eq!(p.log_path(), Some(dir.path().join("calls.jsonl").as_path()));
    assert_eq!(p.with_log(None).log_path(), None);
}

#[test]
fn an_unwritable_log_is_a_config_error() {
    let (dir, path) = script(&format!("log = \"no/such/dir/calls.jsonl\"\n{TWO_ROLES}"));
    let err = ask(&provider(&path), &request("planner", 0)).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot open call log"), "{err}");
    assert!(!dir.path().join("no").exists());
}

#[test]
fn a_delay_within_the_timeout_answers_after_it() {
    let (_dir, path) = script("[[reply]]\nrole = \"a\"\ntext = \"slow\"\ndelay_ms = 30\n");
    let started = Instant::now();
    assert_eq!(text(&provider(&path), "a", 0), "slow");
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
fn a_delay_beyond_the_timeout_is_a_transient_timeout_after_the_timeout() {
    let (_dir, path) = script("[[reply]]\nrole = \"a\"\ntext = \"slow\"\ndelay_ms = 600000\n");
    let mut req = request("a", 0);
    req.timeout = Duration::from_millis(20);
    let started = Instant::now();
    let (result, progress) = ask(&provider(&path), &req);
    let elapsed = started.elapsed();
    let err = result.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("timed out after 20 ms"), "{err}");
    assert!(elapsed >= Duration::from_millis(20) && elapsed < Duration::from_secs(10));
    assert_eq!(progress.len(), 1, "started, but no tokens: {progress:?}");
}

#[test]
fn unreadable_or_invalid_scripts_are_config_errors_naming_the_file() {
    let cases: &[(&str, &str)] = &[
        ("[[reply]]\nrole = \"a\"\n", "missing field `text`"),
        ("[[reply]]\nrole = \"a\"\ntext = \"x\"\noutput_token = 3\n", "unknown field `output_token`"),
        ("[[reply]]\nrole = \"a\"\ntext = \"x\"\nerror = \"flaky\"\n", "unknown variant `flaky`"),
        ("[[reply]\n", "invalid TOML"),
        ("[[reply]]\nrole = \" \"\ntext = \"x\"\n", "#0 has an empty role"),
        ("[[reply]]\nrole = \"a\"\ntext = \"x\"\ncost_usd = -1.0\n", "cost_usd must be"),
        ("[[reply]]\nrole = \"a\"\ntext = \"x\"\ndelay_ms = 99999999999\n", "exceeds the limit"),
        ("[[reply]]\nrole = \"a\"\ntext = \"x\"\nretry_after_ms = 5\n", "needs error = \"transient\""),
        ("[[reply]]\nrole = \"a\"\ntext = \"x\"\nmodel = \"\"\n", "model is empty"),
        (
            "[[reply]]\nrole = \"a\"\nturn = 2\ntext = \"x\"\n[[reply]]\nrole = \"a\"\nturn = 2\ntext = \"y\"\n",
            "turn 2 is already answered by [[reply]] #0",
        ),
    ];
    for (toml, problem) in cases {
        let (_dir, path) = script(toml);
        let err = ScriptedProvider::load_with_env_log(&path, None).unwrap_err();
        assert!(
            matches!(err, ProviderError::Config { .. }),
            "{toml}: {err:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains(&path.display().to_string()),
            "{toml}: {shown}"
        );
        assert!(
            shown.contains(problem),
            "{toml}: expected {problem:?} in {shown}"
        );
    }

    let err =
        ScriptedProvider::load_with_env_log(Path::new("/no/such/script.toml"), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("/no/such/script.toml: cannot open"),
        "{err}"
    );
}

#[test]
fn an_empty_script_loads_and_answers_nothing() {
    let (_dir, path) = script("# nothing yet\n");
    let err = ask(&provider(&path), &request("planner", 0)).0.unwrap_err();
    assert!(err.to_string().contains("(it has 0 for planner)"), "{err}");
}
