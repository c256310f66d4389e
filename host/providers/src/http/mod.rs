//! What the HTTP backends share: one blocking client, status classification, `retry-after`,
//! bounded reads, and line / server-sent-event readers for streamed answers.

#[cfg(test)]
mod tests;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::HeaderMap;

use crate::{Progress, ProviderError};

/// No response body, and no streamed text, may exceed this: a broken or hostile server must not
/// make loom buffer without end. Far above any real completion.
pub(crate) const BODY_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// One line of a stream (an SSE `data:` line or an NDJSON object) may not exceed this.
pub(crate) const LINE_BYTES_MAX: u64 = 1024 * 1024;
/// How long connecting may take, within the request's own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a non-JSON error body goes into an error message.
const EXCERPT_CHARS_MAX: usize = 300;

/// An API key. Its `Debug` is redacted so that no derive, log line or panic can print it.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    /// The key from `var`, or a `Config` error naming the variable (never its value).
    pub fn from_env(
        provider: &str,
        env: crate::spec::Env<'_>,
        var: &str,
    ) -> Result<Secret, ProviderError> {
        match env(var).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok(Secret(v)),
            _ => Err(crate::spec::config(
                provider,
                format!("no API key: the environment variable {var} is not set"),
                format!("export {var}=… (keys are read only from the environment)"),
            )),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Runs one HTTP call on a thread of its own, passing its progress reports back to the caller's
/// thread. reqwest's blocking client runs a private tokio runtime and panics if it is built,
/// used or dropped on a thread inside another runtime, which is where async transports (the
/// dashboard, Telegram) may call providers from. A fresh thread per call is nothing next to an
/// LLM call; the client is built and dropped inside `work`, so it never touches the caller's
/// thread.
pub(crate) fn off_runtime<T: Send>(
    progress: &mut dyn FnMut(Progress),
    work: impl FnOnce(&mut dyn FnMut(Progress)) -> T + Send,
) -> T {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = scope.spawn(move || {
            // A send fails only if the receiver is gone, which cannot happen before we return.
            let mut report = |p| {
                let _ = tx.send(p);
            };
            work(&mut report)
        });
        // Ends when the worker returns and drops its sender.
        for p in rx {
            progress(p);
        }
        match worker.join() {
            Ok(result) => result,
            // A panic in the worker is a bug; let it continue on the caller's thread.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Builds the blocking client. A failure here is the TLS backend failing to initialise, which
/// no retry can fix.
pub(crate) fn client(provider: &str) -> Result<Client, ProviderError> {
    Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| {
            crate::spec::config(
                provider,
                format!("cannot build an HTTP client: {}", chain(&e)),
                "this is a bug or a broken TLS setup; report it with the message".to_string(),
            )
        })
}

/// What the status classification needs to know about a backend.
pub(crate) struct Errors<'a> {
    pub provider: &'a str,
    /// The variable holding the key, for 401/403 hints; `None` for keyless backends.
    pub key_var: Option<&'a str>,
    /// Pulls the human message out of the backend's JSON error body.
    pub message: fn(&serde_json::Value) -> Option<String>,
}

impl Errors<'_> {
    /// A request that got no usable answer. Every such failure is transient: timeouts, refused
    /// or reset connections, a body cut short. Only a malformed request (a bad base URL) is not.
    pub fn send_failed(&self, e: &reqwest::Error, url: &str, timeout: Duration) -> ProviderError {
        if e.is_builder() {
            return crate::spec::config(
                self.provider,
                format!("cannot build a request to {url}: {}", chain(e)),
                "check the base URL (the `base` option or the backend's *_BASE_URL variable)"
                    .to_string(),
            );
        }
        let message = if e.is_timeout() {
            format!("timed out after {} ms ({url})", timeout.as_millis())
        } else if e.is_connect() {
            format!("cannot connect to {url}: {}", chain(e))
        } else {
            format!("request to {url} failed: {}", chain(e))
        };
        self.transient(message, None)
    }

    /// A read of the answer that broke off (reset, timeout, truncated chunk): transient.
    pub fn read_failed(&self, e: &std::io::Error) -> ProviderError {
        // reqwest reports its own deadline as an io error wrapping a reqwest::Error.
        let timed_out = e.kind() == std::io::ErrorKind::TimedOut
            || e.get_ref()
                .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout);
        let what = if timed_out {
            "timed out while reading the answer"
        } else {
            "connection lost while reading the answer"
        };
        self.transient(format!("{what}: {}", chain(e)), None)
    }

    pub fn transient(&self, message: String, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Transient {
            provider: self.provider.to_string(),
            message,
            retry_after,
        }
    }

    pub fn permanent(&self, message: String) -> ProviderError {
        ProviderError::Permanent {
            provider: self.provider.to_string(),
            message,
        }
    }

    /// Malformed JSON in a complete answer: the server is broken, so the same request would get
    /// the same answer; fall back instead of retrying.
    pub fn malformed(&self, what: &str, e: &serde_json::Error, text: &str) -> ProviderError {
        self.permanent(format!(
            "malformed JSON in {what}: {e}; it starts {:?}",
            excerpt(text)
        ))
    }

    /// Classifies a non-2xx answer by status, with the backend's message and `retry-after`.
    pub fn status(&self, status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| (self.message)(&v))
            .unwrap_or_else(|| excerpt(body));
        let message = format!("HTTP {status}: {message}");
        match status {
            408 | 409 | 429 | 500..=599 => self.transient(message, retry_after(headers)),
            401 | 403 => crate::spec::config(
                self.provider,
                message,
                match self.key_var {
                    Some(var) => {
                        format!("check that {var} holds a valid key with access to this model")
                    }
                    None => "check the server's access settings".to_string(),
                },
            ),
            402 => crate::spec::config(
                self.provider,
                message,
                "the account is out of credits or over its spend limit; top it up".to_string(),
            ),
            _ => self.permanent(message),
        }
    }

    /// Sends `request` and returns the response if its status is 2xx, else the classified error
    /// (reading at most [`BODY_BYTES_MAX`] of the error body).
    pub fn send(
        &self,
        request: reqwest::blocking::RequestBuilder,
        url: &str,
        timeout: Duration,
    ) -> Result<Response, ProviderError> {
        let response = request
            .timeout(timeout)
            .send()
            .map_err(|e| self.send_failed(&e, url, timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        // The error body is only for the message; if reading it fails, the status still decides.
        let body = read_body(self, response).unwrap_or_default();
        Err(self.status(status.as_u16(), &headers, &body))
    }
}

/// Reads a whole body as text, bounded by [`BODY_BYTES_MAX`].
pub(crate) fn read_body(errors: &Errors<'_>, response: Response) -> Result<String, ProviderError> {
    let mut bytes = Vec::new();
    response
        .take(BODY_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| errors.read_failed(&e))?;
    if bytes.len() as u64 > BODY_BYTES_MAX {
        return Err(errors.permanent(format!(
            "answer larger than {BODY_BYTES_MAX} bytes; refusing to buffer it"
        )));
    }
    String::from_utf8(bytes).map_err(|_| errors.permanent("answer is not UTF-8".to_string()))
}

/// The wait a 429/5xx asks for: `retry-after-ms` (Anthropic's SDKs prefer it), then
/// `retry-after` in seconds. The HTTP-date form is not parsed (no API here sends it); the chain's
/// own backoff applies then.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    number("retry-after").map(Duration::from_secs_f64)
}

/// The first characters of `text`, for messages.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// An error and its sources on one line: reqwest's own `Display` hides the cause (for instance
/// "connection reset by peer" behind "error sending request").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    // Bounded: error chains are short, but a cyclic one must not hang us.
    for _ in 0..8 {
        let Some(s) = source else { break };
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Why a stream could not give its next line.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(std::io::Error),
    TooLong,
    NotUtf8,
}

impl LineError {
    pub fn into_provider_error(self, errors: &Errors<'_>) -> ProviderError {
        match self {
            LineError::Io(e) => errors.read_failed(&e),
            LineError::TooLong => {
                errors.permanent(format!("a stream line exceeds {LINE_BYTES_MAX} bytes"))
            }
            LineError::NotUtf8 => errors.permanent("a stream line is not UTF-8".to_string()),
        }
    }
}

/// A streamed answer's body, once it is known to be the stream asked for. A 200 that carries
/// something else (a JSON error, a proxy's HTML page, nothing) would read as a stream that
/// ends early, a truncation retried as transient; instead its start is shown, and a JSON
/// error is classified by `classify` as the backend's whole-body errors are.
pub(crate) fn expect_stream(
    errors: &Errors<'_>,
    response: Response,
    content_type: &str,
    classify: impl Fn(&serde_json::Value) -> Option<ProviderError>,
) -> Result<Response, ProviderError> {
    let got = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if got.starts_with(content_type) {
        return Ok(response);
    }
    let text = read_body(errors, response)?;
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(e) = classify(&v) {
            return Err(e);
        }
    }
    let shown = if got.is_empty() {
        "no content type"
    } else {
        got.as_str()
    };
    Err(errors.permanent(format!(
        "asked for a stream ({content_type}) and got {shown}: {}",
        excerpt(&text)
    )))
}

/// Lines of a streamed body, each bounded by [`LINE_BYTES_MAX`], without the line ending.
pub(crate) struct Lines<R> {
    inner: BufReader<R>,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines {
            inner: BufReader::new(inner),
        }
    }

    /// The next line, or `None` at the end of the body.
    pub fn next_line(&mut self) -> Result<Option<String>, LineError> {
        let mut buf = Vec::new();
        let read = (&mut self.inner)
            .take(LINE_BYTES_MAX + 1)
            .read_until(b'\n', &mut buf)
            .map_err(LineError::Io)?;
        if read == 0 {
            return Ok(None);
        }
        if buf.len() as u64 > LINE_BYTES_MAX {
            return Err(LineError::TooLong);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| LineError::NotUtf8)
    }
}

/// One server-sent event: its `event:` name (empty if none) and its `data:` lines joined by
/// newlines.
#[derive(Debug, PartialEq)]
pub(crate) struct SseEvent {
    pub event: String,
    pub data: String,
}

impl<R: Read> Lines<R> {
    /// The next event with data, skipping `:` comments (OpenRouter's keep-alives) and fields
    /// loom does not use (`id:`, `retry:`). `None` at the end of the body.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, LineError> {
        let mut event = String::new();
        let mut data: Option<String> = None;
        loop {
            let Some(line) = self.next_line()? else {
                // A final event without its blank line still counts; the caller decides whether
                // the stream ended properly.
                return Ok(data.map(|data| SseEvent { event, data }));
            };
            if line.is_empty() {
                if let Some(data) = data.take() {
                    return Ok(Some(SseEvent { event, data }));
                }
                event.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = value.to_string(),
                "data" => match &mut data {
                    Some(d) => {
                        if d.len() as u64 + value.len() as u64 > BODY_BYTES_MAX {
                            return Err(LineError::TooLong);
                        }
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                _ => {}
            }
        }
    }
}

/// Appends streamed text, refusing to grow past [`BODY_BYTES_MAX`].
pub(crate) fn push_text(
    errors: &Errors<'_>,
    text: &mut String,
    more: &str,
) -> Result<(), ProviderError> {
    if (text.len() + more.len()) as u64 > BODY_BYTES_MAX {
        return Err(errors.permanent(format!(
            "streamed text exceeds {BODY_BYTES_MAX} bytes; refusing to buffer it"
        )));
    }
    text.push_str(more);
    Ok(())
}
