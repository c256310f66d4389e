//! The HTTP side of the fake: one request per connection (answered with `connection:
//! close`), the token checked in the path, bodies decoded as Telegram decodes them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken fake should fail its test loudly

use super::{answer, error, Call, Shared, NESTED, NUMERIC};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(super) fn serve(conn: TcpStream, s: &Shared) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(read_half);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (mut len, mut ctype) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "content-type" => ctype = v.trim().to_ascii_lowercase(),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (bot, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let form = ctype.starts_with("application/x-www-form-urlencoded");
    let mut params = if ctype.starts_with("application/json") {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        decode_form(&String::from_utf8_lossy(&body))
    };
    if !query.is_empty() {
        if let (Value::Object(p), Value::Object(q)) = (&mut params, decode_form(query)) {
            p.extend(q);
        }
    }
    let (status, reply) = if bot != format!("bot{}", s.token) {
        error(401, "Unauthorized")
    } else {
        {
            let mut st = s.st.lock().unwrap();
            st.calls.push(Call {
                method: method.to_owned(),
                params: params.clone(),
                form,
                at: Instant::now(),
            });
            s.cv.notify_all();
            let hung = st.hang.iter().any(|h| h == method);
            if hung {
                // Held open and never answered, like a connection cut mid-call.
                while !s.stop.load(Ordering::SeqCst) && st.hang.iter().any(|h| h == method) {
                    st = s.cv.wait_timeout(st, Duration::from_millis(100)).unwrap().0;
                }
                return;
            }
        }
        answer(s, method, &params)
    };
    let body = reply.to_string();
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    );
}

/// A form (or query string) as Telegram reads it: numbers in numeric fields, JSON in nested
/// ones, strings elsewhere.
fn decode_form(s: &str) -> Value {
    let mut out = serde_json::Map::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (unescape(k), unescape(v));
        let value = if NUMERIC.contains(&k.as_str()) {
            v.parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(v))
        } else if NESTED.contains(&k.as_str()) {
            serde_json::from_str(&v).unwrap_or(Value::String(v))
        } else if k == "show_alert" {
            Value::Bool(v == "true")
        } else {
            Value::String(v)
        };
        out.insert(k, value);
    }
    Value::Object(out)
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
