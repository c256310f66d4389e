use std::time::{Duration, Instant};

use super::*;
use crate::testserver::{env, fixture, run, Reply, Server};

const KEY: &str = "sk-or-v1-test-0123";
const SECOND: Duration = Duration::from_secs(5);

fn provider(server: &Server, options: &str) -> OpenRouterProvider {
    let arg = format!("openai/gpt-4o-mini?base={}{options}", server.base);
    OpenRouterProvider::from_spec(&arg, &env(&[(KEY_VAR, KEY)])).unwrap()
}

fn error_body(code: u16, message: &str) -> String {
    json!({"error": {"code": code, "message": message, "metadata": {}}, "user_id": "user_1"})
        .to_string()
}

#[test]
fn answers_whole_with_cost_and_sends_the_documented_request() {
    let server = Server::start(vec![Reply::json(
        200,
        fixture!("openrouter-completion.json"),
    )]);
    let p = provider(&server, "&referer=https://example.test/&fallbacks=a/b,c/d");
    let (result, _) = run(&p, SECOND);
    let response = result.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(response.model, "openai/gpt-4o-mini");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 3
        }
    );
    assert_eq!(response.cost_usd, Some(1.95e-05));
    assert_eq!(response.stop_reason.as_deref(), Some("stop"));

    let requests = server.requests();
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/api/v1/chat/completions")
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["http-referer"], "https://example.test/");
    assert_eq!(r.headers["x-title"], "loom");
    assert_eq!(
        r.body,
        json!({
            "model": "openai/gpt-4o-mini",
            "models": ["openai/gpt-4o-mini", "a/b", "c/d"],
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "ping"}
            ],
            "max_tokens": 256,
            "stream": false
        })
    );
}

#[test]
fn base_with_the_api_prefix_is_accepted() {
    let server = Server::start(vec![Reply::json(
        200,
        fixture!("openrouter-completion.json"),
    )]);
    let arg = format!("openai/gpt-4o-mini?base={}/api/v1/", server.base);
    let p = OpenRouterProvider::from_spec(&arg, &env(&[(KEY_VAR, KEY)])).unwrap();
    run(&p, SECOND).0.unwrap();
    assert_eq!(server.requests()[0].path, "/api/v1/chat/completions");
    assert!(!server.requests()[0].headers.contains_key("http-referer"));
}

#[test]
fn streams_tokens_usage_and_cost() {
    let server = Server::start(vec![Reply::typed(
        "text/event-stream",
        fixture!("openrouter-stream.sse"),
    )]);
    let (result, progress) = run(&provider(&server, "&stream=true"), SECOND);
    let response = result.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 3
        }
    );
    assert_eq!(response.cost_usd, Some(1.95e-05));
    assert_eq!(response.stop_reason.as_deref(), Some("stop"));
    assert!(
        progress.contains(&Progress::Tokens { output_tokens: 1 }),
        "{progress:?}"
    );
    assert!(
        progress.contains(&Progress::Tokens { output_tokens: 3 }),
        "{progress:?}"
    );
    assert_eq!(server.requests()[0].body["stream"], true);
}

#[test]
fn status_errors_are_classified() {
    let server = Server::start(vec![
        Reply::json(400, &error_body(400, "bad request")),
        Reply::json(401, &error_body(401, "No auth credentials found")),
        Reply::json(402, &error_body(402, "Insufficient credits")),
        Reply::json(403, &error_body(403, "flagged by moderation")),
        Reply::Body {
            status: 429,
            content_type: "application/json",
            headers: vec![("Retry-After", "3")],
            body: error_body(429, "Rate limit exceeded"),
        },
        Reply::json(502, &error_body(502, "model down")),
    ]);
    let p = provider(&server, "");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("HTTP 400: bad request"), "{err}");

    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains(KEY_VAR), "{err}");
    assert!(!format!("{err:?}").contains(KEY));

    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains("credits"), "{err}");

    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");

    let err = run(&p, SECOND).0.unwrap_err();
    let ProviderError::Transient { retry_after, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(3)));

    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("model down"), "{err}");
}

#[test]
fn error_chunk_mid_stream_is_classified_by_its_code() {
    let sse = format!(
        ": OPENROUTER PROCESSING\n\ndata: {}\n\n",
        json!({"error": {"code": 502, "message": "upstream died"}, "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]})
    );
    let server = Server::start(vec![Reply::typed("text/event-stream", &sse)]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("upstream died"), "{err}");
}

#[test]
fn malformed_json_is_permanent_and_truncated_stream_transient() {
    let full = fixture!("openrouter-stream.sse");
    let cut = &full[..full.find("data: [DONE]").unwrap()];
    let raw = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{cut}"
    );
    let server = Server::start(vec![
        Reply::json(200, "{\"id\": \"gen-1\", \"choices\": [{"),
        Reply::Raw(raw),
    ]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("malformed JSON"), "{err}");
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("truncated"), "{err}");
}

#[test]
fn reset_and_timeout_are_transient() {
    let server = Server::start(vec![
        Reply::CutShort {
            promised: 700,
            body: fixture!("openrouter-completion.json")[..50].to_string(),
        },
        Reply::Slow(
            Duration::from_secs(3),
            Box::new(Reply::json(200, fixture!("openrouter-completion.json"))),
        ),
    ]);
    let p = provider(&server, "");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let started = Instant::now();
    let err = run(&p, Duration::from_millis(300)).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn check_asks_about_the_key_and_reports_its_credit() {
    let key = r#"{"data":{"label":"sk-or-v1-au7...890","limit":100,"limit_remaining":74.5,
        "limit_reset":"monthly","usage":25.5,"usage_daily":25.5,"usage_weekly":25.5,
        "usage_monthly":25.5,"is_free_tier":false,"is_provisioning_key":false}}"#;
    let server = Server::start(vec![
        Reply::json(200, key),
        Reply::json(401, &error_body(401, "No auth credentials found")),
    ]);
    let found = provider(&server, "").check().unwrap();
    assert!(
        found.contains("sk-or-v1-au7...890") && found.contains("$74.50 of $100.00 left"),
        "{found}"
    );
    {
        // The server records the next request under this lock: let go of it first.
        let r = &server.requests()[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/api/v1/key"));
        assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    }
    let err = provider(&server, "").check().unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err}");
}

/// A stream asked for and a JSON error answered with 200: that error, classified by its code.
#[test]
fn a_json_error_instead_of_a_stream_is_that_error() {
    let body = r#"{"error":{"code":400,"message":"openai/gpt-9 is not a valid model ID"}}"#;
    let server = Server::start(vec![Reply::json(200, body)]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(!matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("not a valid model ID"), "{err}");
}
