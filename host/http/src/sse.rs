//! `GET /api/v1/events`: the bus as Server-Sent Events. Each event that a tick stands for
//! carries the tick's id (`run << 32 | seq`), so a client that reconnects with
//! `Last-Event-ID` first gets the ticks it missed, read from the database, then live ones.
//! A stream that falls behind the bus re-reads the database from its last id: the
//! database is the truth the events only point at, so nothing is dropped.

use crate::problem::Problem;
use crate::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use loom_service::{events_of, Event, Reader};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// Event streams open at once, at most: each holds a connection and a bus receiver.
pub const STREAMS_MAX: usize = 64;

/// Ticks re-read from the database per catch-up step (the stream reads on after sending).
const CATCH_UP_TICKS_MAX: usize = 1024;

fn tick_id(run: u64, seq: u64) -> u64 {
    (run << 32) | seq
}

struct Follow {
    rx: Receiver<Event>,
    reader: Reader,
    /// Events read but not sent yet (a catch-up, or the events of one tick).
    queue: VecDeque<SseEvent>,
    /// The newest tick sent (0: none yet).
    last: u64,
    /// The bus's events of a tick already sent from the database are dropped.
    skipping: bool,
    /// The database must be read before the next bus event (a reconnect, a lag).
    catch_up: bool,
    /// Becomes true when the server stops: an endless stream would keep it waiting.
    stop: tokio::sync::watch::Receiver<bool>,
    /// This stream's place among [`STREAMS_MAX`], given back when it ends.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

fn sse(e: &Event, id: Option<u64>) -> SseEvent {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    let ev = SseEvent::default().data(data);
    match id {
        Some(id) => ev.id(id.to_string()),
        None => ev,
    }
}

/// The ticks after `last`, as events, read on a blocking thread.
async fn ticks_after(reader: &Reader, last: u64) -> Vec<(u64, Vec<Event>)> {
    let reader = reader.clone();
    let read = tokio::task::spawn_blocking(move || reader.log(None)).await;
    let Ok(Ok(log)) = read else {
        // Read again at the next lag or reconnect; the live stream goes on meanwhile.
        return Vec::new();
    };
    log.into_iter()
        .map(|e| (tick_id(e.tick.run_id, e.tick.seq), e.tick))
        .filter(|(id, _)| *id > last)
        .take(CATCH_UP_TICKS_MAX)
        .map(|(id, t)| (id, events_of(&t)))
        .collect()
}

impl Follow {
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Follow)> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some((Ok(e), self));
            }
            if self.catch_up {
                let ticks = ticks_after(&self.reader, self.last).await;
                self.catch_up = ticks.len() == CATCH_UP_TICKS_MAX;
                for (id, events) in ticks {
                    self.last = id;
                    self.queue.extend(events.iter().map(|e| sse(e, Some(id))));
                }
                continue;
            }
            let got = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.stop.wait_for(|stopping| *stopping) => return None,
            };
            match got {
                Ok(e) => {
                    if let Event::TickCommitted { run, seq, .. } = e {
                        let id = tick_id(run, seq);
                        self.skipping = id <= self.last;
                        if !self.skipping {
                            self.last = id;
                        }
                    } else if !matches!(
                        e,
                        Event::GateOpened { .. }
                            | Event::GateDecided { .. }
                            | Event::RunStatusChanged { .. }
                    ) {
                        // An effect event is not part of a tick: it is live whatever came before.
                        self.skipping = false;
                    }
                    if self.skipping {
                        continue;
                    }
                    let id = (self.last > 0).then_some(self.last);
                    return Some((Ok(sse(&e, id)), self));
                }
                Err(RecvError::Lagged(_)) => self.catch_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// `?after=ID`: as `Last-Event-ID`, for a first connection (a page rendered up to a tick);
/// the header, which a reconnecting `EventSource` sends, wins.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AfterQuery {
    /// Start after this tick id (`run << 32 | seq`), as `Last-Event-ID` does.
    after: Option<u64>,
}

/// The event bus as Server-Sent Events: ticks committed, gates opened and decided, run
/// status changes, effects started, progressing and finished, as JSON tagged by `event`.
/// Each event a tick stands for has `id:` = the tick's id, and a client reconnecting with
/// `Last-Event-ID` first gets every tick after it.
#[utoipa::path(get, path = "/api/v1/events",
    params(AfterQuery, ("Last-Event-ID" = Option<u64>, Header, description = "The last tick id seen")),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = "default", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<AfterQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    let permit = app.streams.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-streams",
            "Too many event streams",
            format!("{STREAMS_MAX} event streams are open already; close one and retry"),
        )
    })?;
    // Subscribe before reading the database, so no tick falls between the two.
    let rx = app.handle.subscribe();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or_else(|| q.ok().and_then(|Query(q)| q.after));
    let follow = Follow {
        rx,
        reader: app.handle.reader().clone(),
        queue: VecDeque::new(),
        last: last.unwrap_or(0),
        skipping: false,
        catch_up: last.is_some(),
        stop: app.stop.clone(),
        _permit: permit,
    };
    Ok(Sse::new(stream::unfold(follow, Follow::next)).keep_alive(KeepAlive::default()))
}
