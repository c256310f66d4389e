//! One classification of each kind of failure across the backends: what a failure is
//! (transient, permanent, config) depends on what happened, never on the backend that met it
//! or on whether the answer was streamed.

use crate::testserver::{env, run, Reply, Server};
use crate::{from_spec_with_env, ProviderError};
use std::path::Path;
use std::time::Duration;

fn class(e: &ProviderError) -> &'static str {
    match e {
        ProviderError::Transient { .. } => "transient",
        ProviderError::Permanent { .. } => "permanent",
        ProviderError::Config { .. } => "config",
    }
}

fn keys() -> impl Fn(&str) -> Option<String> {
    env(&[
        ("ANTHROPIC_API_KEY", "sk-x"),
        ("OPENROUTER_API_KEY", "sk-or-x"),
    ])
}

const HTTP_BACKENDS: [&str; 3] = ["anthropic:m", "openrouter:m", "ollama:m"];

#[test]
fn a_refused_connection_is_transient_for_every_backend_streamed_or_not() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    for backend in HTTP_BACKENDS {
        for stream in [false, true] {
            let spec = format!("{backend}?base=http://127.0.0.1:{port}&stream={stream}");
            let p = from_spec_with_env(&spec, Path::new("."), &keys()).unwrap();
            let err = run(&*p, Duration::from_secs(5)).0.unwrap_err();
            assert_eq!(class(&err), "transient", "{spec}: {err}");
        }
    }
    // claude-code's own word for it is in its tests (the real CLI's output on a closed port).
}

#[test]
fn a_200_carrying_an_error_is_classified_the_same_streamed_or_not() {
    let bodies = [
        // The server's own trouble: worth a retry.
        (
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            r#"{"error":{"code":529,"message":"overloaded"}}"#,
            r#"{"error":"server busy, please try again"}"#,
        ),
        // The request's: no such model. Another provider may have it; this one never will.
        (
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: m"}}"#,
            r#"{"error":{"code":404,"message":"No endpoints found for m"}}"#,
            r#"{"error":"model 'm' not found, try pulling it first"}"#,
        ),
    ];
    for (anthropic, openrouter, ollama) in bodies {
        let mut seen = Vec::new();
        for (backend, body) in [
            ("anthropic:m", anthropic),
            ("openrouter:m", openrouter),
            ("ollama:m", ollama),
        ] {
            let mut classes = Vec::new();
            for stream in [false, true] {
                let server = Server::start(vec![Reply::json(200, body)]);
                let spec = format!("{backend}?base={}&stream={stream}", server.base);
                let p = from_spec_with_env(&spec, Path::new("."), &keys()).unwrap();
                let err = run(&*p, Duration::from_secs(5)).0.unwrap_err();
                classes.push(class(&err));
            }
            assert_eq!(
                classes[0], classes[1],
                "{backend}: {body} is {} unstreamed and {} streamed",
                classes[0], classes[1]
            );
            seen.push((backend, classes[0]));
        }
        assert!(
            seen.iter().all(|(_, c)| *c == seen[0].1),
            "one kind of failure, one class: {seen:?}"
        );
    }
}
