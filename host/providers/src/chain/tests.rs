use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::{Message, Usage};

/// A provider answering from a queue of outcomes, counting its calls.
struct Fake {
    name: &'static str,
    outcomes: Mutex<VecDeque<Result<Response, ProviderError>>>,
    calls: Arc<Mutex<u32>>,
}

fn fake(
    name: &'static str,
    outcomes: Vec<Result<Response, ProviderError>>,
) -> (Box<dyn Provider>, Arc<Mutex<u32>>) {
    let calls = Arc::new(Mutex::new(0));
    let provider = Fake {
        name,
        outcomes: Mutex::new(outcomes.into()),
        calls: calls.clone(),
    };
    (Box::new(provider), calls)
}

impl Provider for Fake {
    fn name(&self) -> &str {
        self.name
    }

    fn complete(
        &self,
        _req: &Request,
        _progress: &mut dyn FnMut(Progress),
    ) -> Result<Response, ProviderError> {
        *self.calls.lock().unwrap() += 1;
        self.outcomes
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(permanent(self.name)))
    }
}

fn ok(provider: &str) -> Result<Response, ProviderError> {
    Ok(Response {
        text: format!("answer from {provider}"),
        provider: provider.to_string(),
        model: format!("{provider}-model"),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 2,
        },
        cost_usd: Some(0.01),
        stop_reason: Some("end_turn".to_string()),
    })
}

fn transient(provider: &str, retry_after: Option<Duration>) -> ProviderError {
    ProviderError::Transient {
        provider: provider.to_string(),
        message: "529 overloaded".to_string(),
        retry_after,
    }
}

fn permanent(provider: &str) -> ProviderError {
    ProviderError::Permanent {
        provider: provider.to_string(),
        message: "model not found".into(),
    }
}

fn config(provider: &str) -> ProviderError {
    ProviderError::Config {
        provider: provider.to_string(),
        message: "not logged in".into(),
        hint: "run the login command".into(),
    }
}

fn request() -> Request {
    Request {
        role: "reviewer".to_string(),
        turn: 0,
        effect_key: "r1.t7.review#1".to_string(),
        model: Some("asked-model".to_string()),
        system: None,
        messages: vec![Message::user("hi")],
        max_tokens: 100,
        workdir: PathBuf::from("."),
        edits_tree: false,
        timeout: Duration::from_secs(5),
    }
}

/// Runs the chain with a sleeper that records waits instead of sleeping.
fn run(
    chain: Chain,
) -> (
    Result<Response, ProviderError>,
    Vec<Attempt>,
    Vec<Duration>,
    Vec<Progress>,
) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let recorder = slept.clone();
    let chain = chain.with_sleeper(Box::new(move |d| recorder.lock().unwrap().push(d)));
    let mut progress = Vec::new();
    let (result, attempts) = chain.complete(&request(), &mut |p| progress.push(p));
    let slept = slept.lock().unwrap().clone();
    (result, attempts, slept, progress)
}

fn outcomes(attempts: &[Attempt]) -> Vec<(&str, AttemptOutcome)> {
    attempts
        .iter()
        .map(|a| (a.provider.as_str(), a.outcome))
        .collect()
}

#[test]
fn a_transient_error_is_retried_then_succeeds() {
    let (a, calls) = fake("a", vec![Err(transient("a", None)), ok("a")]);
    let (result, attempts, slept, progress) = run(Chain::new(vec![a], 3));
    assert_eq!(result.unwrap().text, "answer from a");
    assert_eq!(*calls.lock().unwrap(), 2);
    assert_eq!(
        outcomes(&attempts),
        [("a", AttemptOutcome::Transient), ("a", AttemptOutcome::Ok)]
    );
    assert_eq!(attempts[0].model.as_deref(), Some("asked-model"));
    assert_eq!(attempts[0].message, "a: transient error: 529 overloaded");
    assert_eq!(attempts[1].model.as_deref(), Some("a-model"));
    assert_eq!(attempts[1].message, "ok: 10 input / 2 output tokens");
    assert_eq!(slept, [BACKOFF_BASE]);
    assert_eq!(
        progress,
        [Progress::Note(
            "a: transient error: 529 overloaded; retry 1 of 3 in 1000 ms".into()
        )]
    );
}

#[test]
fn a_permanent_error_falls_back_to_the_next_provider() {
    let (a, a_calls) = fake("a", vec![Err(permanent("a")), ok("a")]);
    let (b, _) = fake("b", vec![ok("b")]);
    let (result, attempts, slept, progress) = run(Chain::new(vec![a, b], 3));
    assert_eq!(result.unwrap().provider, "b");
    assert_eq!(
        *a_calls.lock().unwrap(),
        1,
        "a permanent error is not retried"
    );
    assert_eq!(
        outcomes(&attempts),
        [("a", AttemptOutcome::Permanent), ("b", AttemptOutcome::Ok)]
    );
    assert_eq!(attempts[0].message, "a: model not found");
    assert!(slept.is_empty());
    assert_eq!(
        progress,
        [Progress::Note(
            "a: model not found; falling back to b".into()
        )]
    );
}

#[test]
fn a_config_error_stops_the_chain() {
    let (a, _) = fake("a", vec![Err(config("a"))]);
    let (b, b_calls) = fake("b", vec![ok("b")]);
    let (result, attempts, slept, _) = run(Chain::new(vec![a, b], 3));
    assert_eq!(result.unwrap_err(), config("a"));
    assert_eq!(*b_calls.lock().unwrap(), 0);
    assert_eq!(outcomes(&attempts), [("a", AttemptOutcome::Config)]);
    assert_eq!(
        attempts[0].message,
        "a: not logged in (hint: run the login command)"
    );
    assert!(slept.is_empty());
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let (a, _) = fake(
        "a",
        vec![
            Err(transient("a", Some(Duration::from_millis(2500)))),
            Err(transient("a", Some(Duration::from_secs(3600)))),
            ok("a"),
        ],
    );
    let (result, _, slept, _) = run(Chain::new(vec![a], 5));
    assert!(result.is_ok());
    assert_eq!(slept, [Duration::from_millis(2500), SLEEP_CAP]);
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let (a, _) = fake("a", vec![Err(transient("a", None)); 7]);
    let (result, attempts, slept, _) = run(Chain::new(vec![a], 6));
    assert!(result.unwrap_err().is_transient());
    assert_eq!(attempts.len(), 7);
    let secs: Vec<u64> = slept.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 30]);

    let (a, _) = fake("a", vec![Err(transient("a", None)); 3]);
    let chain =
        Chain::new(vec![a], 2).with_backoff(Duration::from_millis(10), Duration::from_millis(15));
    let (_, _, slept, _) = run(chain);
    assert_eq!(
        slept,
        [Duration::from_millis(10), Duration::from_millis(15)]
    );
}

#[test]
fn max_retries_bounds_the_attempts_then_the_chain_falls_back() {
    let (a, a_calls) = fake("a", vec![Err(transient("a", None)); 10]);
    let (b, _) = fake("b", vec![ok("b")]);
    let (result, attempts, slept, progress) = run(Chain::new(vec![a, b], 2));
    assert_eq!(result.unwrap().provider, "b");
    assert_eq!(*a_calls.lock().unwrap(), 3, "one call plus two retries");
    assert_eq!(
        outcomes(&attempts),
        [
            ("a", AttemptOutcome::Transient),
            ("a", AttemptOutcome::Transient),
            ("a", AttemptOutcome::Transient),
            ("b", AttemptOutcome::Ok),
        ]
    );
    assert_eq!(slept.len(), 2);
    assert!(matches!(progress.last(), Some(Progress::Note(n)) if n.ends_with("falling back to b")));
}

#[test]
fn zero_retries_means_one_call_per_provider() {
    let (a, a_calls) = fake("a", vec![Err(transient("a", None))]);
    let (result, attempts, slept, _) = run(Chain::new(vec![a], 0));
    assert_eq!(result.unwrap_err(), transient("a", None));
    assert_eq!(*a_calls.lock().unwrap(), 1);
    assert_eq!(attempts.len(), 1);
    assert!(slept.is_empty());
}

#[test]
fn when_every_provider_fails_the_last_error_is_returned() {
    let (a, _) = fake("a", vec![Err(permanent("a"))]);
    let (b, _) = fake("b", vec![Err(transient("b", None))]);
    let (result, attempts, _, _) = run(Chain::new(vec![a, b], 0));
    assert_eq!(result.unwrap_err(), transient("b", None));
    assert_eq!(
        outcomes(&attempts),
        [
            ("a", AttemptOutcome::Permanent),
            ("b", AttemptOutcome::Transient)
        ]
    );
}

#[test]
fn an_empty_chain_is_a_config_error() {
    let (result, attempts, _, _) = run(Chain::new(Vec::new(), 3));
    let err = result.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("no providers configured"), "{err}");
    assert!(attempts.is_empty());
}

#[test]
fn max_retries_is_clamped() {
    assert_eq!(
        Chain::new(Vec::new(), u32::MAX).max_retries(),
        MAX_RETRIES_LIMIT
    );
}

#[test]
fn attempts_round_trip_through_json() {
    let attempt = Attempt {
        provider: "a".into(),
        model: None,
        outcome: AttemptOutcome::Transient,
        latency_ms: 12,
        message: "a: transient error: reset".into(),
    };
    let json = serde_json::to_value(&attempt).unwrap();
    assert_eq!(json["outcome"], "transient");
    assert_eq!(serde_json::from_value::<Attempt>(json).unwrap(), attempt);
}

#[test]
fn a_chain_of_scripted_providers_falls_back_when_a_script_has_no_reply() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    let full = dir.path().join("full.toml");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&full, "[[reply]]\nrole = \"reviewer\"\ntext = \"LGTM\"\n").unwrap();
    let chain = Chain::new(
        vec![
            crate::from_spec("scripted:empty.toml", dir.path()).unwrap(),
            crate::from_spec(&format!("scripted:{}", full.display()), dir.path()).unwrap(),
        ],
        2,
    );
    let (result, attempts, slept, _) = run(chain);
    assert_eq!(result.unwrap().text, "LGTM");
    assert_eq!(
        outcomes(&attempts),
        [
            ("scripted", AttemptOutcome::Permanent),
            ("scripted", AttemptOutcome::Ok)
        ]
    );
    assert!(attempts[0]
        .message
        .contains("has no reply for role reviewer turn 0"));
    assert!(slept.is_empty());
}
