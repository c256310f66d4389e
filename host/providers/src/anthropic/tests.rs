use std::time::{Duration, Instant};

use super::*;
use crate::testserver::{env, fixture, run, Reply, Server};

const KEY: &str = "sk-ant-test-0123";
const SECOND: Duration = Duration::from_secs(5);

fn provider(server: &Server, options: &str) -> AnthropicProvider {
    let arg = format!("claude-sonnet-4-5?base={}{options}", server.base);
    AnthropicProvider::from_spec(&arg, &env(&[(KEY_VAR, KEY)])).unwrap()
}

#[test]
fn answers_whole_and_sends_the_documented_request() {
    let server = Server::start(vec![Reply::json(200, fixture!("anthropic-message.json"))]);
    let (result, progress) = run(&provider(&server, "&beta=b1,b2"), SECOND);
    let response = result.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(response.model, "claude-sonnet-4-5");
    assert_eq!(response.provider, "anthropic");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 3
        }
    );
    assert_eq!(response.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(response.cost_usd, None);
    assert!(
        matches!(progress[0], Progress::Started { .. }),
        "{progress:?}"
    );

    let requests = server.requests();
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.headers["x-api-key"], KEY);
    assert_eq!(r.headers["anthropic-version"], "2023-06-01");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["anthropic-beta"], "b1,b2");
    assert_eq!(
        r.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "ping"}
            ],
            "stream": false
        })
    );
}

#[test]
fn streams_tokens_and_returns_the_whole_text() {
    let server = Server::start(vec![Reply::typed(
        "text/event-stream",
        fixture!("anthropic-stream.sse"),
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
    assert_eq!(response.stop_reason.as_deref(), Some("end_turn"));
    let tokens: Vec<u64> = progress
        .iter()
        .filter_map(|p| match p {
            Progress::Tokens { output_tokens } => Some(*output_tokens),
            _ => None,
        })
        .collect();
    // message_start said 1, the text delta keeps it at 1, message_delta says 3.
    assert_eq!(tokens, vec![1, 3]);
    assert_eq!(server.requests()[0].body["stream"], true);
}

#[test]
fn tool_use_answers_give_empty_text_and_their_stop_reason() {
    let server = Server::start(vec![Reply::json(200, fixture!("anthropic-tool-use.json"))]);
    let response = run(&provider(&server, ""), SECOND).0.unwrap();
    assert_eq!(response.text, "");
    assert_eq!(response.stop_reason.as_deref(), Some("tool_use"));
}

#[test]
fn bad_request_is_permanent() {
    let server = Server::start(vec![Reply::Raw(
        fixture!("anthropic-error-400.http").into(),
    )]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(
        err.message()
            .contains("HTTP 400: invalid_request_error: max_tokens: Field required"),
        "{err}"
    );
}

#[test]
fn bad_key_is_a_config_error_naming_the_variable_not_the_key() {
    let body = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}"#;
    let server = Server::start(vec![Reply::json(401, body)]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains(KEY_VAR), "{err}");
    assert!(!format!("{err:?}").contains(KEY), "{err:?}");
}

#[test]
fn missing_key_fails_at_creation() {
    let err = AnthropicProvider::from_spec("claude-sonnet-4-5", &env(&[])).unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains(KEY_VAR), "{err}");
}

#[test]
fn rate_limit_is_transient_with_retry_after() {
    let server = Server::start(vec![Reply::Raw(
        fixture!("anthropic-error-429.http").into(),
    )]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    let ProviderError::Transient {
        retry_after,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert!(message.contains("rate_limit_error"), "{message}");
}

#[test]
fn spend_limit_is_a_config_error() {
    let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"limit","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
    let server = Server::start(vec![Reply::json(429, body)]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
}

#[test]
fn overloaded_and_server_errors_are_transient() {
    let server = Server::start(vec![
        Reply::Raw(fixture!("anthropic-error-529.http").into()),
        Reply::Body {
            status: 500,
            content_type: "text/plain",
            headers: vec![("retry-after-ms", "250")],
            body: "upstream exploded".into(),
        },
    ]);
    let p = provider(&server, "");
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.message().contains("HTTP 529: overloaded_error"),
        "{err}"
    );
    let err = run(&p, SECOND).0.unwrap_err();
    let ProviderError::Transient {
        retry_after,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_millis(250)));
    assert!(message.contains("upstream exploded"), "{message}");
}

#[test]
fn malformed_json_is_permanent() {
    let server = Server::start(vec![Reply::json(200, r#"{"id": "msg_1", "content": ["#)]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("malformed JSON"), "{err}");
}

#[test]
fn connection_closed_mid_answer_is_transient() {
    let server = Server::start(vec![Reply::CutShort {
        promised: 400,
        body: fixture!("anthropic-message.json")[..40].to_string(),
    }]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[test]
fn connection_reset_is_transient() {
    let server = Server::start(vec![Reply::Reset]);
    let err = run(&provider(&server, ""), SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[test]
fn truncated_stream_is_transient() {
    let full = fixture!("anthropic-stream.sse");
    let cut = &full[..full.find("event: message_delta").unwrap()];
    let raw = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{cut}"
    );
    let server = Server::start(vec![Reply::Raw(raw)]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("truncated"), "{err}");
}

#[test]
fn error_event_mid_stream_is_classified() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n\
               event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let server = Server::start(vec![Reply::typed("text/event-stream", sse)]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("Overloaded"), "{err}");
}

#[test]
fn slow_answer_times_out_as_transient() {
    let server = Server::start(vec![Reply::Slow(
        Duration::from_secs(3),
        Box::new(Reply::json(200, fixture!("anthropic-message.json"))),
    )]);
    let started = Instant::now();
    let err = run(&provider(&server, ""), Duration::from_millis(300))
        .0
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("timed out after 300 ms"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn refused_connection_is_transient() {
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let arg = format!("claude-sonnet-4-5?base=http://127.0.0.1:{port}");
    let p = AnthropicProvider::from_spec(&arg, &env(&[(KEY_VAR, KEY)])).unwrap();
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("cannot connect"), "{err}");
}

#[test]
fn stream_that_stalls_mid_answer_times_out() {
    let full = fixture!("anthropic-stream.sse");
    let part = &full[..full.find("event: content_block_delta").unwrap()];
    let raw = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{part}"
    );
    let server = Server::start(vec![Reply::Stall(raw, Duration::from_secs(3))]);
    let started = Instant::now();
    let err = run(
        &provider(&server, "&stream=true"),
        Duration::from_millis(400),
    )
    .0
    .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("timed out while reading"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn check_lists_models_with_the_key_and_names_a_missing_model() {
    let models = r#"{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929",
        "display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},
        {"type":"model","id":"claude-haiku-4-5-20251001","display_name":"Claude Haiku 4.5",
        "created_at":"2025-10-01T00:00:00Z"}],"has_more":false,
        "first_id":"claude-sonnet-4-5-20250929","last_id":"claude-haiku-4-5-20251001"}"#;
    let unauthorized =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let server = Server::start(vec![
        Reply::json(200, models),
        Reply::json(200, models),
        Reply::json(401, unauthorized),
    ]);
    let found = provider(&server, "").check().unwrap();
    assert!(found.contains("2 model(s)"), "{found}");
    {
        // The server records the next request under this lock: let go of it first.
        let r = &server.requests()[0];
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/v1/models?limit=1000")
        );
        assert_eq!(r.headers["x-api-key"], KEY);
        assert!(r.headers.contains_key("anthropic-version"));
    }
    let opus = AnthropicProvider::from_spec(
        &format!("claude-opus-4-1?base={}", server.base),
        &env(&[(KEY_VAR, KEY)]),
    )
    .unwrap();
    let err = opus.check().unwrap_err().to_string();
    assert!(err.contains("no model claude-opus-4-1"), "{err}");
    let err = provider(&server, "").check().unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err}");
}

#[test]
fn key_env_names_another_variable_and_hints_name_it() {
    let body =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let server = Server::start(vec![Reply::json(401, body)]);
    let arg = format!(
        "claude-sonnet-4-5?base={}&key_env=WORK_ANTHROPIC_KEY",
        server.base
    );
    // The default variable alone does not do: the named one is required.
    let err = AnthropicProvider::from_spec(&arg, &env(&[(KEY_VAR, KEY)])).unwrap_err();
    assert!(err.to_string().contains("WORK_ANTHROPIC_KEY"), "{err}");
    let p = AnthropicProvider::from_spec(&arg, &env(&[("WORK_ANTHROPIC_KEY", KEY)])).unwrap();
    let err = run(&p, SECOND).0.unwrap_err();
    assert!(err.hint().unwrap().contains("WORK_ANTHROPIC_KEY"), "{err}");
    assert_eq!(server.requests()[0].headers["x-api-key"], KEY);
    let bad = AnthropicProvider::from_spec("m?key_env=sk-ant-123", &env(&[])).unwrap_err();
    assert!(!bad.to_string().contains("sk-ant-123"), "{bad}");
    assert!(
        bad.to_string()
            .contains("must be the name of an environment variable"),
        "{bad}"
    );
}

/// A 200 that carries an error is that error, classified as its type says, streaming or not
/// (not "missing field `model`", not a truncated stream retried three times).
#[test]
fn an_error_in_a_200_body_is_classified_by_its_type_streaming_or_not() {
    let overloaded =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let invalid = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#;
    for opts in ["", "&stream=true"] {
        let server = Server::start(vec![Reply::json(200, overloaded)]);
        let err = run(&provider(&server, opts), SECOND).0.unwrap_err();
        assert!(
            matches!(err, ProviderError::Transient { .. }),
            "{opts}: {err:?}"
        );
        assert!(err.to_string().contains("Overloaded"), "{err}");
        let server = Server::start(vec![Reply::json(200, invalid)]);
        let err = run(&provider(&server, opts), SECOND).0.unwrap_err();
        assert!(
            matches!(err, ProviderError::Permanent { .. }),
            "{opts}: {err:?}"
        );
        assert!(err.to_string().contains("max_tokens: too big"), "{err}");
    }
}

/// A stream asked for and a page answered: the page's start is shown, and it is not retried.
#[test]
fn an_html_page_instead_of_a_stream_is_shown_not_taken_for_truncation() {
    let server = Server::start(vec![Reply::typed(
        "text/html",
        "<html><body>Proxy authentication required</body></html>",
    )]);
    let err = run(&provider(&server, "&stream=true"), SECOND)
        .0
        .unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    let said = err.to_string();
    assert!(
        said.contains("text/html") && said.contains("Proxy authentication"),
        "{said}"
    );
    assert!(!said.contains("truncated"), "{said}");
}
