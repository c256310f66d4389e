//! The accept loop. axum's own `serve` sets no header read timeout, so a client that sends
//! half a request line and waits would hold a connection (and a task) for as long as it
//! likes; this one gives every connection a timer, cuts headers that do not arrive in time,
//! bounds the connections open at once, and shuts down gracefully.

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Longest a client may take to send a request's headers (a slow sender holds a
/// connection); the body has its own limit ([`crate::BODY_TIMEOUT`]).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once, at most; the next waits in the listen queue.
pub const CONNECTIONS_MAX: usize = 512;

/// How long an accept error that is not the listener's fault (too many open files) pauses
/// the loop, so it does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open requests
/// to finish (end the event streams first through [`crate::Options::stop`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s,
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            r = listener.accept() => r,
            _ = &mut shutdown => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Per-connection failures (reset before accept, out of descriptors): wait and
                // go on; the listener itself stays good.
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        // Small answers and events: send them now rather than wait to fill a segment.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(
            router
                .clone()
                .map_request(|req: Request<Incoming>| req.map(Body::new)),
        );
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that goes away or times out ends only its own connection.
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
