use std::time::{Duration, Instant};

use super::*;
use crate::testserver::{env, fixture, run, Reply, Server};

const SECOND: Duration = Duration::from_secs(5);

fn provider(server: &Server, options: &str) -> OllamaProvider {
    OllamaProvider::from_spec(
        &format!("llama3.2?base={}{options}", server.base),
        &env(&[]),
    )
    .unwrap()
}

fn ndjson(body: &str) -> Reply {
    Reply::typed("application/x-ndjson", body)
}

#[test]
fn answers_whole_and_sends_the_documented_request() {
    let server = Server::start(vec![Reply::json(200, fixture!("ollama-chat.json"))]);
    let (result, progress) = run(&provider(&server, ""), SECOND);
    let response = result.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(response.model, "llama3.2");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 26,
            output_tokens: 3
        }
    );
    assert_eq!(response.stop_reason.as_deref(), Some("stop"));
    assert_eq!(response.cost_usd, None);
    assert_eq!(
        progress.last(),
        Some(&Progress::Tokens { output_tokens: 3 })
    );

    let requests = server.requests();
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/chat"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(!r.headers.contains_key("authorization"));
    assert_eq!(
        r.body,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "ping"}
            ],
            "stream": false,
            "options": {"num_predict": 256}
        })
    );
}

#[test]
fn base_comes_from_ollama_host_without_a_scheme() {
    let server = Server::start(vec![Reply::json(200, fixture!("ollama-chat.json"))]);
    let host = server.base.trim_start_matches("http://").to_string();
    let p = OllamaProvider::from_spec("llama3.2", &env(&[(BASE_VAR, &host)])).unwrap();
    assert_eq!(run(&p, SECOND).0.unwrap().text, "pong");
}

#[test]
fn streams_ndjson_tokens() {
    let server = Server::start(vec![ndjson(fixture!("ollama-chat-stream.ndjson"))]);
    let (result, progress) = run(&provider(&server, "&stream=true"), SECOND);
    let response = result.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 26,
            output_tokens: 3
        }
    );
    let tokens: Vec<&Progress> = progress
        .iter()
        .filter(|p| matches!(p, Progress::Tokens { .. }))
        .collect();
    assert_eq!(
        tokens,
        [1, 2, 3]
            .map(|n| Progress::Tokens { output_tokens: n })
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(server.requests()[0].body["stream"], true);
}

#[test]
fn status_errors_are_classified_with_hints() {
    let server = Server::start(vec![
        Reply::json(400, r#"{"error":"invalid options"}"#),
        Reply::json(404, r#"{"error":"model 'llama3.2' not found"}"#),
        Reply::json(401, r#"{"error":"unauthorized"}"#),
        Reply::Body {
            status: 429,
            content_type: "application/json",
            headers: vec![("retry-after", "2")],
            body: r#"{"error":"busy"}"#.into(),
        },
        Reply::json(500, r#"{"error":"runner crashed"}"#),
    ]);
    let p = provider(&server, "");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("ollama pull llama3.2"), "{err}");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    let err = run(&p, SECOND).0.unwrap_err();
    let ProviderError::Transient { retry_after, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(2)));
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("runner crashed"), "{err}");
}

#[test]
fn malformed_cut_and_failing_streams() {
    let full = fixture!("ollama-chat-stream.ndjson");
    let two_lines: String = full.lines().take(2).map(|l| format!("{l}\n")).collect();
    let raw = format!("HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n{two_lines}");
    let server = Server::start(vec![
        Reply::json(200, "{\"model\": \"llama3.2\", \"message\": {"),
        Reply::Raw(raw),
        ndjson(&format!("{two_lines}{{\"error\":\"out of memory\"}}\n")),
        ndjson(&format!("{two_lines}not json\n")),
    ]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("malformed JSON"), "{err}");
    let streamed = provider(&server, "&stream=true");
    let err = run(&streamed, SECOND).0.unwrap_err();
    assert!(
        err.is_transient() && err.message().contains("truncated"),
        "{err:?}"
    );
    let err = run(&streamed, SECOND).0.unwrap_err();
    assert!(
        err.is_transient() && err.message().contains("out of memory"),
        "{err:?}"
    );
    let err = run(&streamed, SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
}

#[test]
fn reset_timeout_and_no_server_are_transient() {
    let server = Server::start(vec![
        Reply::CutShort {
            promised: 300,
            body: fixture!("ollama-chat.json")[..30].to_string(),
        },
        Reply::Slow(
            Duration::from_secs(3),
            Box::new(Reply::json(200, fixture!("ollama-chat.json"))),
        ),
    ]);
    let p = provider(&server, "");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let started = Instant::now();
    let err = run(&p, Duration::from_millis(300)).0.unwrap_err();
    assert!(
        err.is_transient() && err.message().contains("timed out"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p =
        OllamaProvider::from_spec(&format!("llama3.2?base=127.0.0.1:{port}"), &env(&[])).unwrap();
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("ollama serve"), "{err}");
}

#[test]
fn check_lists_the_models_and_names_a_missing_one() {
    let tags = r#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest",
        "modified_at":"2026-11-01T10:00:00Z","size":2019393189,"digest":"a80c4f17acd5",
        "details":{"format":"gguf","family":"llama","parameter_size":"3.2B"}}]}"#;
    let server = Server::start(vec![Reply::json(200, tags), Reply::json(200, tags)]);
    let found = provider(&server, "").check().unwrap();
    assert!(
        found.contains("llama3.2") && found.contains("1 model"),
        "{found}"
    );
    let requests = server.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/api/tags")
    );
    drop(requests);
    let other =
        OllamaProvider::from_spec(&format!("qwen2.5-coder?base={}", server.base), &env(&[]))
            .unwrap();
    let err = other.check().unwrap_err().to_string();
    assert!(err.contains("ollama pull qwen2.5-coder"), "{err}");
}

/// An error before any output is the request's (no such model), permanent with or without
/// streaming; only one after output started is the server failing mid-answer.
#[test]
fn an_error_is_classified_the_same_streaming_or_not() {
    let missing = r#"{"error":"model 'llama9' not found"}"#;
    let server = Server::start(vec![Reply::json(200, missing)]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    let server = Server::start(vec![ndjson(&format!("{missing}\n"))]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("not found"), "{err}");
    // Served as JSON rather than a stream: the same error, the same class.
    let server = Server::start(vec![Reply::json(404, missing)]);
    let streamed = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(
        !matches!(streamed, ProviderError::Transient { .. }),
        "{streamed:?}"
    );
    let mid = format!(
        "{}\n{}\n",
        r#"{"model":"llama3.2","message":{"role":"assistant","content":"po"},"done":false}"#,
        r#"{"error":"runner process has terminated"}"#
    );
    let server = Server::start(vec![ndjson(&mid)]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
}
