//! Bounded fuzzing of everything the providers parse from outside: each backend's answer
//! (whole JSON, SSE and NDJSON streams) served by a loopback server, the SSE line reader, the
//! scripted provider's file and provider specs. Inputs are random bytes and random damage to
//! the captured fixtures (truncations, flipped bytes, spliced tokens), which reach far deeper
//! into the parsers than noise. The property: an answer or a clear error, never a panic or a
//! hang; and a damaged answer is never taken for the undamaged one's text.

use crate::http::Lines;
use crate::testserver::{env, fixture, run, Reply, Server};
use crate::{anthropic, ollama, openrouter, Provider};
use proptest::prelude::*;
use std::time::Duration;

/// Damage to a text: cut it, flip bytes, splice in tokens that parsers trip on.
#[derive(Clone, Debug)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Splice(usize, &'static str),
}

fn damage() -> impl Strategy<Value = Damage> {
    const TOKENS: &[&str] = &[
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "\n",
        "\n\n",
        "data: ",
        "event: ",
        "\\u0000",
        "\u{1F9F5}",
        "-1",
        "1e999",
        "\"content\":",
        "[DONE]",
        "\r\n",
    ];
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Flip(at, b)),
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Damage::Splice(at, t)),
    ]
}

fn apply(text: &str, damages: &[Damage]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for d in damages {
        let n = bytes.len().max(1);
        match d {
            Damage::Truncate(at) => bytes.truncate(at % n),
            Damage::Flip(at, b) => {
                if !bytes.is_empty() {
                    bytes[at % n] = *b;
                }
            }
            Damage::Splice(at, t) => {
                let at = (at % n).min(bytes.len());
                bytes.splice(at..at, t.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A body to serve: a damaged fixture, or noise.
fn body(fixture: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(damage(), 1..6).prop_map(move |d| apply(fixture, &d)),
        1 => "\\PC{0,400}",
    ]
}

/// Serves `body` once as `content_type` and calls the provider `make` builds for it.
fn answer<P: Provider>(
    content_type: &'static str,
    body: &str,
    make: impl FnOnce(&Server) -> P,
) -> Result<crate::Response, crate::ProviderError> {
    let server = Server::start(vec![Reply::typed(content_type, body)]);
    let provider = make(&server);
    run(&provider, Duration::from_secs(5)).0
}

/// What the property requires of one answer to a damaged `body` of an `intact` fixture
/// whose text is `pong`: an error that says something, or an answer.
fn check(result: Result<crate::Response, crate::ProviderError>, body: &str, intact: &str) {
    match result {
        Err(e) => assert!(
            !e.to_string().trim().is_empty(),
            "an empty error for {body:?}"
        ),
        Ok(r) => {
            if body.len() < intact.len() / 2 {
                // Most of the answer is gone: what is left cannot still say all of it.
                assert_ne!(
                    (r.text.as_str(), r.usage.output_tokens),
                    ("pong", 3),
                    "a cut answer passed for whole: {body:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn anthropic_answers_whole_or_streamed_never_panic(
        json in body(fixture!("anthropic-message.json")),
        sse in body(fixture!("anthropic-stream.sse")),
    ) {
        let make = |opts: &'static str| move |s: &Server| {
            let arg = format!("claude-sonnet-4-5?base={}{opts}", s.base);
            anthropic::AnthropicProvider::from_spec(&arg, &env(&[(anthropic::KEY_VAR, "sk-ant-x")]))
                .unwrap()
        };
        check(answer("application/json", &json, make("")), &json, fixture!("anthropic-message.json"));
        check(answer("text/event-stream", &sse, make("&stream=true")), &sse, fixture!("anthropic-stream.sse"));
    }

    #[test]
    fn openrouter_answers_whole_or_streamed_never_panic(
        json in body(fixture!("openrouter-completion.json")),
        sse in body(fixture!("openrouter-stream.sse")),
    ) {
        let make = |opts: &'static str| move |s: &Server| {
            let arg = format!("openai/gpt-4o-mini?base={}{opts}", s.base);
            openrouter::OpenRouterProvider::from_spec(&arg, &env(&[(openrouter::KEY_VAR, "k")]))
                .unwrap()
        };
        check(answer("application/json", &json, make("")), &json, fixture!("openrouter-completion.json"));
        check(answer("text/event-stream", &sse, make("&stream=true")), &sse, fixture!("openrouter-stream.sse"));
    }

    #[test]
    fn ollama_answers_whole_or_streamed_never_panic(
        json in body(fixture!("ollama-chat.json")),
        nd in body(fixture!("ollama-chat-stream.ndjson")),
    ) {
        let make = |opts: &'static str| move |s: &Server| {
            ollama::OllamaProvider::from_spec(&format!("llama3.2?base={}{opts}", s.base), &env(&[]))
                .unwrap()
        };
        check(answer("application/json", &json, make("")), &json, fixture!("ollama-chat.json"));
        check(answer("application/x-ndjson", &nd, make("&stream=true")), &nd, fixture!("ollama-chat-stream.ndjson"));
    }

    #[test]
    fn the_sse_reader_ends_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut lines = Lines::new(bytes.as_slice());
        // Every event consumes at least one line, so this bound is never reached by a reader
        // that makes progress.
        for _ in 0..=bytes.len() + 1 {
            match lines.next_event() {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return Ok(()),
            }
        }
        prop_assert!(false, "the reader did not reach the end of {} bytes", bytes.len());
    }

    #[test]
    fn a_scripted_file_parses_or_is_refused_clearly(
        text in prop_oneof![
            "\\PC{0,600}",
            prop::collection::vec(damage(), 1..6).prop_map(|d| apply(
                "log = \"calls.jsonl\"\n[[reply]]\nrole = \"planner\"\ndelay_ms = 5\ntext = '''\nplan\n'''\n\
                 [[reply]]\nrole = \"x\"\nerror = \"transient\"\nretry_after_ms = 5\ntext = \"529\"\n",
                &d,
            )),
        ]
    ) {
        if let Err(e) = crate::scripted::parse_script(std::path::Path::new("s.toml"), &text) {
            prop_assert!(e.to_string().contains("s.toml"), "{e}");
        }
    }

    #[test]
    fn a_provider_spec_is_checked_or_refused_clearly(spec in "\\PC{0,120}") {
        if let Err(e) = crate::validate_spec(&spec) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }
}
