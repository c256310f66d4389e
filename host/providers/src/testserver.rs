//! A loopback HTTP/1.1 server for the adapter tests: binds 127.0.0.1 on port 0, serves a fixed
//! list of canned replies (one per connection) on a thread, records each request, and exits.
//! Every wait is bounded, so a test that never connects cannot hang the suite.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fixture file from `tests/fixtures/` (copied verbatim from the captured protocol bodies).
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            ::core::env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// How long the server waits for each connection before giving up.
const ACCEPT_WAIT: Duration = Duration::from_secs(10);

/// One canned reply.
pub(crate) enum Reply {
    /// Bytes written as they are (a whole `.http` fixture, status line included).
    Raw(String),
    /// A status, extra headers and a body; content-length is added.
    Body {
        status: u16,
        content_type: &'static str,
        headers: Vec<(&'static str, &'static str)>,
        body: String,
    },
    /// Headers promising `promised` body bytes, then only `body`, then the socket closes.
    CutShort { promised: usize, body: String },
    /// Sends these bytes (a status line, headers and part of a body), then stalls this long
    /// before closing: a server that hangs mid-answer.
    Stall(String, Duration),
    /// Closes the connection without reading the request: with unread bytes in its receive
    /// buffer the kernel answers with a TCP reset, not a clean close. Nothing is recorded.
    Reset,
    /// Waits this long before answering with the inner reply (to outlast a client timeout).
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Body {
            status,
            content_type: "application/json",
            headers: vec![],
            body: body.to_string(),
        }
    }

    pub fn typed(content_type: &'static str, body: &str) -> Reply {
        Reply::Body {
            status: 200,
            content_type,
            headers: vec![],
            body: body.to_string(),
        }
    }
}

/// A request as the server saw it.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: serde_json::Value,
}

pub(crate) struct Server {
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    pub fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        // Not joined: the thread ends after its last reply or its accept wait, whichever is first.
        std::thread::spawn(move || {
            for reply in replies {
                let Some(stream) = accept(&listener) else {
                    return;
                };
                serve(stream, reply, &recorded);
            }
        });
        Server { base, requests }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.requests.lock().unwrap()
    }
}

fn accept(listener: &TcpListener) -> Option<TcpStream> {
    let deadline = Instant::now() + ACCEPT_WAIT;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream.set_read_timeout(Some(ACCEPT_WAIT)).ok()?;
                return Some(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    None
}

fn serve(stream: TcpStream, reply: Reply, recorded: &Mutex<Vec<Recorded>>) {
    if let Reply::Reset = reply {
        // Let the request arrive, so it is unread when the socket closes.
        std::thread::sleep(Duration::from_millis(100));
        drop(stream);
        return;
    }
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    recorded.lock().unwrap().push(request);
    let mut stream = reader.into_inner();
    write_reply(&mut stream, reply);
    // Dropping the stream closes it: one reply per connection.
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    for _ in 0..200 {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn write_reply(stream: &mut TcpStream, reply: Reply) {
    // Write errors are ignored: a client that timed out has gone, which is the point of the test.
    let _ = match reply {
        Reply::Raw(raw) => stream.write_all(raw.as_bytes()),
        Reply::Body {
            status,
            content_type,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(body.as_bytes()))
        }
        Reply::CutShort { promised, body } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {promised}\r\n\r\n"
            );
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(body.as_bytes()))
                .and_then(|()| stream.flush())
        }
        Reply::Reset => Ok(()),
        Reply::Stall(raw, wait) => {
            let sent = stream
                .write_all(raw.as_bytes())
                .and_then(|()| stream.flush());
            std::thread::sleep(wait);
            sent
        }
        Reply::Slow(wait, inner) => {
            std::thread::sleep(wait);
            write_reply(stream, *inner);
            Ok(())
        }
    };
}

/// An environment holding only `pairs`.
pub(crate) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// A typical request: a system prompt, one earlier exchange, and a question.
pub(crate) fn request(timeout: Duration) -> crate::Request {
    use crate::Message;
    crate::Request {
        role: "reviewer".into(),
        turn: 0,
        effect_key: "r1.t1.review#1".into(),
        model: None,
        system: Some("You are terse.".into()),
        messages: vec![
            Message::user("hello"),
            Message::assistant("hi"),
            Message::user("ping"),
        ],
        max_tokens: 256,
        workdir: std::env::temp_dir(),
        edits_tree: false,
        timeout,
    }
}

/// Runs `provider` on [`request`] and collects its progress reports.
pub(crate) fn run(
    provider: &dyn crate::Provider,
    timeout: Duration,
) -> (
    Result<crate::Response, crate::ProviderError>,
    Vec<crate::Progress>,
) {
    let mut seen = Vec::new();
    let result = provider.complete(&request(timeout), &mut |p| seen.push(p));
    (result, seen)
}
