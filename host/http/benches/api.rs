//! `cargo bench -p loom-http --bench api [-- --rounds N --seconds S --clients C]`
//!
//! The HTTP transport on loopback, in-process, while runs are being driven: a driver thread
//! starts a task with the testkit bundle (one scripted agent call, a human gate: five ticks),
//! approves its gate 20 ms after it opens, and starts the next when it ends, so ticks commit
//! all the time (about 150 a second) and the project gains runs as it goes (about 20 a
//! second: a status read costs more as they pile up, see the last line).
//!
//! - **commit → SSE**: the instant each tick is published on the bus (just after its commit)
//!   against the instant a client reading `/api/v1/events` over TCP has the event;
//! - **`GET /api/v1/status`**: C keep-alive clients ask as fast as they can for S seconds;
//!   requests per second and the latency percentiles.
//!
//! Each round prints its figures; the last lines are the medians over the rounds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use loom_engine::{Decision, Origin};
use loom_service::{Event, Service};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(&v, 0.5)
}

/// A project with the testkit bundle's scripted worker and a human gate.
fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert!(std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success());
    std::fs::create_dir_all(dir.join(".loom")).unwrap();
    std::fs::write(
        dir.join("loom.toml"),
        "policy = \"supervised\"\ndefault_chain = [\"scripted:.loom/replies.toml\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".loom/replies.toml"),
        "[[reply]]\nrole = \"worker\"\ntext = \"done\"\n",
    )
    .unwrap();
    loom_engine::project::init(dir).unwrap();
    tmp
}

/// How long the driver waits before deciding a gate.
const DECISION_PAUSE: Duration = Duration::from_millis(20);

/// Drives runs until `stop`: each run's gate is approved after [`DECISION_PAUSE`] and the
/// next task started when it ends; returns how the runs ended.
fn drive(
    handle: loom_service::EngineHandle,
    rt: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) -> HashMap<String, u64> {
    let mut ends: HashMap<String, u64> = HashMap::new();
    use loom_kernel::RunStatus;
    let mut rx = handle.subscribe();
    let start = || {
        let _ = rt.block_on(handle.start(
            "bench",
            loom_guests::TESTKIT.to_vec(),
            None,
            Origin::human("bench", "http"),
        ));
    };
    start();
    while !stop.load(Ordering::Relaxed) {
        let got =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), rx.recv()).await });
        match got {
            Ok(Ok(Event::GateOpened {
                name, shown_hash, ..
            })) => {
                // A person or an agent takes a moment: ticks keep committing (about 150 a
                // second) without the driver taking a whole core from the server.
                std::thread::sleep(DECISION_PAUSE);
                let mut d = Decision::new(&name, true, None, Origin::human("bench", "http"));
                d.shown_hash = Some(shown_hash);
                let _ = rt.block_on(handle.decide(d));
            }
            Ok(Ok(Event::RunStatusChanged { status, reason, .. })) if status.is_final() => {
                let why = reason.unwrap_or_default();
                *ends.entry(format!("{status}: {why}")).or_default() += 1;
                start()
            }
            Ok(Ok(Event::RunStatusChanged {
                status: RunStatus::Stopped,
                ..
            }))
            | Err(_) => {
                *ends.entry("stuck".into()).or_default() += 1;
                // Stuck: drop the task and start the next.
                let _ = rt.block_on(handle.abandon(None, Origin::human("bench", "http")));
                start();
            }
            _ => {}
        }
    }
    ends
}

/// One keep-alive HTTP/1.1 request; returns the status code.
fn get(conn: &mut BufReader<TcpStream>, host: &str, path: &str) -> u16 {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).unwrap();
    status
}

/// Ms from each tick's publication on the bus to its arrival at an SSE client.
fn sse_round(addr: SocketAddr, handle: &loom_service::EngineHandle, ticks: usize) -> Vec<f64> {
    let published: Arc<Mutex<HashMap<(u64, u64), Instant>>> = Arc::default();
    let mut bus = handle.subscribe();
    let p = published.clone();
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            match bus.blocking_recv() {
                Ok(Event::TickCommitted { run, seq, .. }) => {
                    p.lock().unwrap().insert((run, seq), Instant::now());
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).unwrap();
    let mut lines = BufReader::new(tcp);
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < ticks {
        line.clear();
        if lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let now = Instant::now();
        let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap_or_default();
        if v["event"] != "tick-committed" {
            continue;
        }
        let key = (
            v["run"].as_u64().unwrap_or(0),
            v["seq"].as_u64().unwrap_or(0),
        );
        // The bus watcher may see the tick a hair after the stream does: wait for it.
        let at = loop {
            if let Some(at) = published.lock().unwrap().get(&key).copied() {
                break Some(at);
            }
            if now.elapsed() > Duration::from_secs(1) {
                break None;
            }
            std::thread::yield_now();
        };
        if let Some(at) = at {
            out.push(now.saturating_duration_since(at).as_secs_f64() * 1e3);
        }
    }
    drop(watcher);
    out
}

/// (requests/s, p50 ms, p99 ms) of `clients` clients for `seconds`.
fn status_round(addr: SocketAddr, clients: usize, seconds: u64) -> (f64, f64, f64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let tcp = TcpStream::connect(addr).unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut conn = BufReader::new(tcp);
                let host = addr.to_string();
                let mut lat = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    assert_eq!(get(&mut conn, &host, "/api/v1/status"), 200);
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    (
        lat.len() as f64 / seconds as f64,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    )
}

fn main() {
    let rounds = arg("--rounds", 5);
    let seconds = arg("--seconds", 3);
    let clients = arg("--clients", 4) as usize;
    let tmp = project();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let service = Service::start(tmp.path(), "http").unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let router = loom_http::router(
        service.handle(),
        &loom_http::Options {
            addr,
            public: false,
            local_token: TOKEN.into(),
            stop: stop_rx,
            web_user: "bench".into(),
            login_code: "bench".into(),
            timeouts: loom_http::Timeouts::default(),
        },
    );
    rt.spawn(loom_http::serve(
        listener,
        router,
        loom_http::Timeouts::default(),
        std::future::pending(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let driver = {
        let (h, rt, stop) = (service.handle(), rt.handle().clone(), stop.clone());
        std::thread::spawn(move || drive(h, rt, stop))
    };

    // What one status read costs without HTTP, for comparison with the request latency.
    let reader = service.handle().reader().clone();
    let t = Instant::now();
    for _ in 0..200 {
        reader.status().unwrap();
    }
    println!(
        "Reader::status alone: {:.0} µs per call",
        t.elapsed().as_secs_f64() / 200.0 * 1e6
    );
    println!("loom-http on {addr}: {rounds} rounds, {clients} status clients for {seconds} s, runs driven meanwhile");
    let (mut sse_medians, mut rps, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let t = Instant::now();
        let mut sse = sse_round(addr, &service.handle(), 200);
        let ticks_per_s = sse.len() as f64 / t.elapsed().as_secs_f64();
        sse.sort_by(|a, b| a.total_cmp(b));
        let (r, p50, p99) = status_round(addr, clients, seconds);
        println!(
            "round {round}: commit→SSE median {:.2} ms p99 {:.2} ms ({} ticks, {:.0}/s) | GET /status {:.0} req/s p50 {:.2} ms p99 {:.2} ms",
            percentile(&sse, 0.5),
            percentile(&sse, 0.99),
            sse.len(),
            ticks_per_s,
            r,
            p50,
            p99
        );
        sse_medians.push(percentile(&sse, 0.5));
        rps.push(r);
        p99s.push(p99);
    }
    println!(
        "median over rounds: commit→SSE {:.2} ms (target ≤ 5) | GET /status {:.0} req/s (target ≥ 5000), p99 {:.2} ms (target ≤ 10)",
        median(sse_medians),
        median(rps),
        median(p99s)
    );
    let t = Instant::now();
    for _ in 0..200 {
        reader.status().unwrap();
    }
    let wal = std::fs::metadata(tmp.path().join(".loom/loom.db-wal")).map_or(0, |m| m.len());
    println!(
        "at the end: {} runs, Reader::status {:.0} µs per call, WAL {} KiB",
        reader.runs().unwrap().len(),
        t.elapsed().as_secs_f64() / 200.0 * 1e6,
        wal / 1024
    );
    stop.store(true, Ordering::Relaxed);
    if let Ok(ends) = driver.join() {
        println!("runs ended: {ends:?}");
    }
    drop(service);
}
