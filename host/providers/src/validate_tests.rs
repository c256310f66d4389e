use super::*;
use crate::testserver;
use std::path::Path;

/// Every example PROVIDERS.md and the README give, and a few real model ids.
const GOOD: &[&str] = &[
    "claude-code",
    "claude-code:",
    "claude-code:sonnet",
    "claude-code:opus?max_turns=30",
    "claude-code:sonnet?tools=Read,Grep&timeout_ms=60000",
    "anthropic:claude-sonnet-4-5?stream=true",
    "anthropic:claude-sonnet-4-5?key_env=WORK_ANTHROPIC_KEY&beta=prompt-caching-2024-07-31",
    "openrouter:anthropic/claude-sonnet-4.5?fallbacks=openai/gpt-4o-mini&stream=true",
    "openrouter:meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
    "ollama:llama3.2?stream=true",
    "ollama:llama3.2:1b?base=http://127.0.0.1:11434",
    "ollama:qwen2.5-coder:32b-instruct-q4_K_M",
    "scripted:.loom/replies.toml",
];

const SECRET: &str = "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2";

/// Specs with a secret somewhere, and the part the error must name.
fn secret_specs() -> Vec<(String, &'static str)> {
    vec![
        (format!("anthropic:m?key={SECRET}"), "option \"key\""),
        ("anthropic:m?api_key=hunter2".into(), "option \"api_key\""),
        (
            "anthropic:m?x-api-key=hunter2".into(),
            "option \"x-api-key\"",
        ),
        ("openrouter:m?token=hunter2".into(), "option \"token\""),
        ("openrouter:m?secret=hunter2".into(), "option \"secret\""),
        ("ollama:m?password=hunter2".into(), "option \"password\""),
        (
            "openrouter:m?openai_api_key=hunter2".into(),
            "option \"openai_api_key\"",
        ),
        (
            format!("anthropic:m?stream={SECRET}"),
            "value of option \"stream\"",
        ),
        (
            format!("anthropic:m?key_env={SECRET}"),
            "value of option \"key_env\"",
        ),
        (format!("anthropic:{SECRET}"), "the model"),
        (format!("anthropic:m?{SECRET}"), "an option"),
        (SECRET.to_string(), "the text"),
        (format!("{SECRET}:m"), "the text"),
        (
            "ollama:m?base=https://me:hunter2@ollama.example".into(),
            "value of option \"base\"",
        ),
        (
            "openrouter:m?title=Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVb".into(),
            "value of option \"title\"",
        ),
        (
            "claude-code:sonnet?token=ghp_abcdefghijklmnop".into(),
            "option \"token\"",
        ),
    ]
}

#[test]
fn documented_specs_validate() {
    for spec in GOOD {
        assert_eq!(validate_spec(spec), Ok(()), "{spec}");
    }
}

#[test]
fn secrets_are_refused_naming_where_and_never_repeated() {
    for (spec, place) in secret_specs() {
        let err = validate_spec(&spec).unwrap_err();
        assert!(matches!(err, SpecError::Secret { .. }), "{spec}: {err:?}");
        let text = format!("{err} {}", err.hint());
        assert!(text.contains(place), "{spec}: {text}");
        assert!(text.contains("environment"), "{spec}: {text}");
        for leaked in [SECRET, "hunter2", "ghp_abcdefghijklmnop", "Zx9Qw8Er7Ty6"] {
            assert!(!text.contains(leaked), "{spec}: {text}");
        }
    }
    let err = validate_spec(&format!("anthropic:m?key={SECRET}")).unwrap_err();
    assert!(err.hint().contains("ANTHROPIC_API_KEY"), "{}", err.hint());
    assert!(err.hint().contains("key_env"), "{}", err.hint());
}

/// The same specs through `from_spec`, with every key variable set so that building would
/// otherwise succeed: the error never carries the secret either.
#[test]
fn from_spec_refuses_them_too_without_echoing() {
    let env = testserver::env(&[("ANTHROPIC_API_KEY", "x"), ("OPENROUTER_API_KEY", "x")]);
    for (spec, _) in secret_specs() {
        let err = crate::from_spec_with_env(&spec, Path::new("."), &env)
            .err()
            .unwrap();
        assert!(
            matches!(err, crate::ProviderError::Config { .. }),
            "{err:?}"
        );
        let text = format!("{err} {err:?}");
        for leaked in [SECRET, "hunter2", "ghp_abcdefghijklmnop", "Zx9Qw8Er7Ty6"] {
            assert!(!text.contains(leaked), "{spec}: {text}");
        }
    }
}

#[test]
fn unknown_backends_and_options_and_bad_values_are_typed() {
    assert!(matches!(
        validate_spec("gpt-9:large"),
        Err(SpecError::UnknownBackend { backend }) if backend == "gpt-9"
    ));
    assert_eq!(validate_spec("anthropic"), Err(SpecError::NoColon));
    let err = validate_spec("anthropic:m?strem=true").unwrap_err();
    assert!(matches!(err, SpecError::UnknownOption { .. }), "{err:?}");
    assert!(err.hint().contains("stream"), "{}", err.hint());
    for spec in [
        "anthropic:m?stream=sometimes",
        "anthropic:m?timeout_ms=soon",
        "anthropic:m?key_env=lower_case",
        "claude-code:sonnet?max_turns=0",
        "ollama:m?stream=true&stream=false",
        "ollama:m?stream",
        "scripted:",
    ] {
        let err = validate_spec(spec).unwrap_err();
        assert!(matches!(err, SpecError::Invalid { .. }), "{spec}: {err:?}");
    }
    // A value of the wrong kind is named by its option, not repeated.
    let err = validate_spec("anthropic:m?stream=my-private-words").unwrap_err();
    assert!(!err.to_string().contains("my-private-words"), "{err}");
    assert!(err.to_string().contains("stream"), "{err}");
}

#[test]
fn model_ids_and_paths_do_not_look_like_secrets() {
    for value in [
        "claude-sonnet-4-5-20250929",
        "anthropic/claude-sonnet-4.5",
        "gpt-4o-2024-08-06",
        "qwen2.5-coder:32b",
        "http://127.0.0.1:11434",
        ".loom/replies.toml",
        "skeleton",
        "sk-x",
    ] {
        assert!(!looks_secret(value), "{value}");
    }
    for value in [SECRET, "sk-or-v1-0123456789abcdef", "AKIAIOSFODNN7EXAMPLE"] {
        assert!(looks_secret(value), "{value}");
    }
}
