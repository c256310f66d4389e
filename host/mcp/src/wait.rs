//! Following a run until it comes to rest, for a tool call that asked to `wait`: one
//! `notifications/progress` per committed tick (when the request carried a progress token),
//! and an end at the rest state, the deadline or the client's `notifications/cancelled`,
//! whichever comes first. Cancelling a wait never cancels the run: it drives on.

use crate::args::{RunOut, WAIT_MAX_S};
use crate::{blocking, render};
use loom_kernel::RunStatus;
use loom_service::{Event, Reader, ServiceError};
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Whom to tell about progress: the client, when its request carried a progress token.
pub struct Progress {
    pub to: Option<(Peer<RoleServer>, ProgressToken)>,
}

/// The wait a tool call asked for, bounded.
pub fn bounded(wait_s: Option<u64>) -> Duration {
    Duration::from_secs(wait_s.unwrap_or(0).min(WAIT_MAX_S))
}

fn at_rest(s: RunStatus) -> bool {
    !matches!(s, RunStatus::Running)
}

/// Where `run` is now, read from the database (the truth the events only point at).
pub async fn snapshot(reader: &Reader, run: u64, ticks_seen: u64) -> Result<RunOut, ServiceError> {
    let reader = reader.clone();
    blocking(move || {
        let runs = reader.runs()?;
        let r = runs
            .into_iter()
            .find(|r| r.id == run)
            .ok_or_else(|| ServiceError {
                kind: loom_engine::ErrorKind::Usage,
                message: format!("no run #{run}"),
            })?;
        let gates = reader
            .gates(false)?
            .into_iter()
            .filter(|g| g.run_id == run)
            .map(|g| render::gate(&g))
            .collect();
        Ok(RunOut {
            run,
            status: r.status.to_string(),
            reason: r.stop_reason.clone(),
            last_seq: r.last_seq,
            ticks_seen,
            at_rest: at_rest(r.status),
            pending_gates: gates,
        })
    })
    .await
}

/// Waits up to `wait` for `run` to come to rest, reporting each tick. `events` was
/// subscribed before the command that set the run going, so no tick of it is missed.
pub async fn follow(
    reader: &Reader,
    run: u64,
    mut events: broadcast::Receiver<Event>,
    wait: Duration,
    progress: &Progress,
    ct: &CancellationToken,
) -> Result<RunOut, ServiceError> {
    let mut seen = 0u64;
    let now = snapshot(reader, run, seen).await?;
    if wait.is_zero() || now.at_rest {
        return Ok(now);
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = ct.cancelled() => break,
        };
        match event {
            Ok(Event::TickCommitted {
                run: r,
                seq,
                summary,
                ..
            }) if r == run => {
                seen += 1;
                if let Some((peer, token)) = &progress.to {
                    // A client that went away is not this run's problem: it drives on.
                    let _ = peer
                        .notify_progress(
                            ProgressNotificationParam::new(token.clone(), seq as f64)
                                .with_message(summary),
                        )
                        .await;
                }
            }
            Ok(Event::RunStatusChanged { run: r, status, .. }) if r == run && at_rest(status) => {
                break
            }
            Ok(_) => {}
            // Fell behind the bus: the database says where the run is.
            Err(RecvError::Lagged(_)) => {
                if snapshot(reader, run, seen).await?.at_rest {
                    break;
                }
            }
            Err(RecvError::Closed) => break,
        }
    }
    snapshot(reader, run, seen).await
}
