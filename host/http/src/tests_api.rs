#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The router against its OpenAPI document, the vocabulary's shapes over HTTP, and the
//! limits on slow and large requests, on a fresh project served in-process.

use super::*;
use axum::body::Body;
use axum::http::{Method, Request as HttpRequest};
use loom_service::Service;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use tower::ServiceExt;

const TOKEN: &str = "local-test-token";
const HOST: &str = "127.0.0.1:7700";

struct Served {
    _tmp: tempfile::TempDir,
    _service: Service,
    router: Router,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn served(timeouts: Timeouts, addr: SocketAddr) -> Served {
    let tmp = tempfile::tempdir().unwrap();
    loom_engine::project::init(tmp.path()).unwrap();
    let service = Service::start(tmp.path(), "http").unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let router = router(
        service.handle(),
        &Options {
            addr,
            public: false,
            local_token: TOKEN.into(),
            stop,
            web_user: "tester".into(),
            login_code: "code".into(),
            timeouts,
        },
    );
    Served {
        _tmp: tmp,
        _service: service,
        router,
        _stop: stop_tx,
    }
}

fn request(method: Method, uri: &str, body: Body) -> HttpRequest<Body> {
    HttpRequest::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(body)
        .unwrap()
}

async fn send(router: &Router, req: HttpRequest<Body>) -> (u16, serde_json::Value) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    if resp.headers().get("content-type").map(|c| c.as_bytes()) == Some(b"text/event-stream") {
        return (status, serde_json::Value::Null);
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// The (path, method) pairs the document describes.
fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(openapi::ApiDoc::openapi()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                out.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    out
}

/// A concrete path for a documented template.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{hash}", &"0".repeat(64))
        .replace("{gate}", "accept")
}

use utoipa::OpenApi;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_in_the_openapi_document_and_every_documented_route_is_served() {
    let routed: BTreeSet<(String, String)> = openapi::api_routes()
        .iter()
        .map(|r| (r.path.to_owned(), r.method.to_string()))
        .collect();
    let documented = documented();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed but not documented"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not routed"
    );

    // The table is what the router serves: each documented method reaches a handler (not
    // the fallback), every other method is refused as not allowed.
    let s = served(Timeouts::default(), HOST.parse().unwrap());
    let paths: BTreeSet<&String> = documented.iter().map(|(p, _)| p).collect();
    for path in paths {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let uri = concrete(path);
            let (status, body) =
                send(&s.router, request(method.clone(), &uri, Body::empty())).await;
            let fallback = body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no such endpoint"));
            if documented.contains(&(path.clone(), method.to_string())) {
                assert!(
                    status != 405 && !fallback,
                    "{method} {uri}: {status} {body}"
                );
            } else {
                assert_eq!(status, 405, "{method} {uri} is not documented: {body}");
            }
        }
    }
    let (status, doc) = send(
        &s.router,
        HttpRequest::get("/api/v1/openapi.json")
            .header("host", HOST)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &doc["openapi"]),
        (200, &serde_json::json!("3.1.0"))
    );
}

#[test]
fn the_openapi_document_changes_only_on_purpose() {
    // The whole API surface, views included: a change to a route, a parameter or a field
    // shows here as a diff to review.
    insta::assert_snapshot!("openapi", openapi::document());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused() {
    let s = served(Timeouts::default(), HOST.parse().unwrap());
    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(BODY_BYTES_MAX));
    let mut req = request(Method::POST, "/api/v1/tasks", Body::from(big));
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let (status, body) = send(&s.router, req).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (413, Some("too-large")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_an_empty_replay_answer_in_the_vocabulary() {
    let s = served(Timeouts::default(), HOST.parse().unwrap());
    let (status, page) = send(
        &s.router,
        request(Method::GET, "/api/v1/runs", Body::empty()),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    insta::assert_json_snapshot!("runs_empty", page);
    let (status, p) = send(
        &s.router,
        request(Method::GET, "/api/v1/runs?status=nope", Body::empty()),
    )
    .await;
    assert_eq!((status, p["kind"].as_str()), (400, Some("usage")), "{p}");
    let (status, answer) = send(
        &s.router,
        request(Method::POST, "/api/v1/replay?all=true", Body::empty()),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    insta::assert_json_snapshot!("replay_nothing", answer);
}

/// Serves on a loopback port with short timeouts; returns the address.
async fn listening(timeouts: Timeouts) -> (Served, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = served(timeouts, addr);
    let router = s.router.clone();
    tokio::spawn(serve(listener, router, timeouts, std::future::pending()));
    (s, addr)
}

/// Sends `head` (and never the rest), then reads until the server closes; returns what it
/// said and how long it took.
fn trickle(addr: SocketAddr, head: &str) -> (String, Duration) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let start = std::time::Instant::now();
    tcp.write_all(head.as_bytes()).unwrap();
    let mut said = Vec::new();
    // Ends at the server's close; a read timeout here would mean it never cut us off.
    let _ = tcp.read_to_end(&mut said);
    (String::from_utf8_lossy(&said).into_owned(), start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_half_a_request_is_cut_off() {
    let t = Timeouts {
        header: Duration::from_millis(500),
        body: Duration::from_millis(500),
    };
    let (_s, addr) = listening(t).await;
    let host = addr.to_string();
    let (said, took) = tokio::task::spawn_blocking(move || {
        trickle(
            addr,
            &format!("GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\n"),
        )
    })
    .await
    .unwrap();
    assert!(
        took < Duration::from_secs(5) && took >= Duration::from_millis(400),
        "headers that never end are cut after the header timeout: {took:?} {said:?}"
    );
    assert!(!said.contains("200 OK"), "{said}");

    let host = addr.to_string();
    let (said, took) = tokio::task::spawn_blocking(move || {
        trickle(
            addr,
            &format!(
                "POST /api/v1/tasks HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\""
            ),
        )
    })
    .await
    .unwrap();
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
