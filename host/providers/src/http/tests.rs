use super::*;

#[test]
fn sse_events_skip_comments_and_join_data_lines() {
    let body = ": keep-alive\n\nevent: a\ndata: 1\ndata: 2\n\ndata: [DONE]\n\ndata: tail";
    let mut lines = Lines::new(body.as_bytes());
    let first = lines.next_event().unwrap().unwrap();
    assert_eq!(
        first,
        SseEvent {
            event: "a".into(),
            data: "1\n2".into()
        }
    );
    assert_eq!(lines.next_event().unwrap().unwrap().data, "[DONE]");
    assert_eq!(lines.next_event().unwrap().unwrap().data, "tail");
    assert!(lines.next_event().unwrap().is_none());
}

#[test]
fn retry_after_prefers_milliseconds() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", "7".parse().unwrap());
    assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    h.insert("retry-after-ms", "1500".parse().unwrap());
    assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    h.clear();
    h.insert(
        "retry-after",
        "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&h), None);
}

#[test]
fn secrets_do_not_debug_print() {
    let s = Secret::from_env("p", &|_| Some("sk-123".into()), "K").unwrap();
    assert_eq!(format!("{s:?}"), "Secret(***)");
    let err = Secret::from_env("p", &|_| None, "MY_KEY").unwrap_err();
    assert!(err.hint().unwrap().contains("MY_KEY"), "{err}");
}
