//! One engine per project, shared by every transport in a process.
//!
//! [`Service::start`] takes the project's driver lock and starts the engine thread, which
//! owns the [`Engine`] (single-threaded by design: `Rc`, `RefCell`, one SQLite connection).
//! Transports get an [`EngineHandle`] (`Send + Clone`): commands go in on a channel and each
//! answer comes back on a oneshot, so an async server, an MCP session and a chat poller in one
//! process drive the same state machine without sharing it. Reads go through a [`Reader`] on
//! read-only connections of their own and never queue behind a ten-minute agent call.
//! Events (ticks, gates, effects, status) are on a broadcast [`Bus`], including what other
//! processes commit ([`Watcher`]).

mod events;
mod reader;
pub mod views;
mod watch;

pub use events::{events_of, Bus, Event, BUS_CAPACITY};
pub use reader::Reader;
pub use watch::{Watcher, POLL_INTERVAL};

use loom_engine::{project, Decision, DriveReport, Engine, EngineError, ErrorKind, Holder, Origin};
use serde::Serialize;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// An engine error as it crosses threads: its kind decides the exit code, the HTTP status,
/// the MCP error and the chat reply alike; its message says what was wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    #[serde(serialize_with = "kind_name")]
    pub kind: ErrorKind,
    pub message: String,
}

fn kind_name<S: serde::Serializer>(k: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match k {
        ErrorKind::Usage => "usage",
        ErrorKind::Config => "config",
        ErrorKind::Refused => "refused",
        ErrorKind::Bundle => "bundle",
        ErrorKind::Busy => "busy",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::Internal => "internal",
    })
}

impl From<EngineError> for ServiceError {
    fn from(e: EngineError) -> Self {
        ServiceError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl ServiceError {
    fn stopped() -> ServiceError {
        ServiceError {
            kind: ErrorKind::Internal,
            message: "the engine thread has stopped (the server is shutting down)".into(),
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

type Reply<T> = oneshot::Sender<Result<T>>;

/// What the engine thread is asked to do. Each command that writes answers as soon as its
/// own tick is committed, then the thread drives the run on in the background.
enum Command {
    Start {
        title: String,
        bundle: Vec<u8>,
        provider: Option<String>,
        origin: Origin,
        reply: Reply<u64>,
    },
    Decide {
        decision: Decision,
        reply: Reply<u64>,
    },
    Resume {
        reply: Reply<u64>,
    },
    Fork {
        request: Box<loom_engine::ForkRequest>,
        reply: Reply<u64>,
    },
    Abandon {
        /// The run the abandon was asked for (and its request posted for the drive loop).
        run: Option<u64>,
        reason: Option<String>,
        origin: Origin,
        reply: Reply<Box<DriveReport>>,
    },
    Shutdown,
}

/// A transport's way to the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    reader: Reader,
    bus: Bus,
}

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .map_err(|_| ServiceError::stopped())?;
        rx.await.map_err(|_| ServiceError::stopped())?
    }

    fn ask_blocking<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .map_err(|_| ServiceError::stopped())?;
        rx.blocking_recv().map_err(|_| ServiceError::stopped())?
    }

    /// Opens a task; answers with its run id once the start tick is committed, and the
    /// engine thread drives it on.
    pub async fn start(
        &self,
        title: &str,
        bundle: Vec<u8>,
        provider: Option<String>,
        origin: Origin,
    ) -> Result<u64> {
        let title = title.to_owned();
        self.ask(|reply| Command::Start {
            title,
            bundle,
            provider,
            origin,
            reply,
        })
        .await
    }

    /// Records a decision (refused, with nothing recorded, if stale, already taken, or not
    /// the origin's to take); answers with the run once the decision's tick is committed.
    pub async fn decide(&self, decision: Decision) -> Result<u64> {
        self.ask(|reply| Command::Decide { decision, reply }).await
    }

    /// [`EngineHandle::decide`] from a thread that is not async.
    pub fn decide_blocking(&self, decision: Decision) -> Result<u64> {
        self.ask_blocking(|reply| Command::Decide { decision, reply })
    }

    /// Sets a stopped run going again (recorded), then drives it.
    pub async fn resume(&self) -> Result<u64> {
        self.ask(|reply| Command::Resume { reply }).await
    }

    /// Forks a recorded run (see [`loom_engine::ForkRequest`]); answers with the fork's run
    /// once its prefix is re-executed and its fork tick committed, and drives it on.
    pub async fn fork(&self, request: loom_engine::ForkRequest) -> Result<u64> {
        let request = Box::new(request);
        self.ask(|reply| Command::Fork { request, reply }).await
    }

    /// Abandons the open task. While the engine thread is busy driving, the request is
    /// recorded at its next tick boundary (the effect in flight keeps its result).
    pub async fn abandon(
        &self,
        reason: Option<String>,
        origin: Origin,
    ) -> Result<Box<DriveReport>> {
        // The engine thread may be inside a long effect: leave the request where its drive
        // loop looks at each boundary, then queue the command for when it is idle.
        let run = self.reader.current_open_run()?;
        if let Some(run) = run {
            let req = loom_engine::mailbox::AbandonRequest {
                run,
                reason: reason.clone().unwrap_or_else(|| "abandoned".into()),
                origin: origin.clone(),
            };
            loom_engine::mailbox::post(&self.reader.root, &req)?;
        }
        self.ask(|reply| Command::Abandon {
            run,
            reason,
            origin,
            reply,
        })
        .await
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.bus.subscribe()
    }
}

/// The engine thread of one project, its handle, and the watcher of other processes.
pub struct Service {
    handle: EngineHandle,
    thread: Option<JoinHandle<()>>,
    _watcher: Watcher,
}

impl Service {
    /// Opens the project at `root`, takes its driver lock (failing with `busy` and the holder
    /// if another process drives it) and starts the engine thread. `transport` is what the
    /// lock file and the record name (`http`, `mcp`, …).
    pub fn start(root: &Path, transport: &str) -> Result<Service> {
        let bus = Bus::new();
        let (tx, rx) = mpsc::channel::<Command>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (root_owned, transport_owned, thread_bus) =
            (root.to_path_buf(), transport.to_owned(), bus.clone());
        let thread = std::thread::Builder::new()
            .name("loom-engine".into())
            .spawn(move || {
                let observer = Box::new(events::BusObserver(thread_bus));
                let opened =
                    Engine::open(&root_owned, observer, &transport_owned).and_then(|mut e| {
                        e.acquire_driver_wait(Some(Duration::ZERO), |_| {})
                            .map(|_| e)
                    });
                match opened {
                    Ok(engine) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(engine, rx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                    }
                }
            })
            .map_err(|e| ServiceError {
                kind: ErrorKind::Internal,
                message: format!("cannot start the engine thread: {e}"),
            })?;
        ready_rx.recv().map_err(|_| ServiceError::stopped())??;
        let watcher = Watcher::spawn(project::db_path(root), bus.clone())
            .map_err(|e| ServiceError::from(EngineError::from(e)))?;
        Ok(Service {
            handle: EngineHandle {
                tx,
                reader: Reader::new(root),
                bus,
            },
            thread: Some(thread),
            _watcher: watcher,
        })
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Who drives (this process, once started).
    pub fn holder(&self) -> Option<Holder> {
        loom_engine::lock::holder(self.handle.reader.root())
    }

    /// Stops the engine thread after its current command (a drive ends at its next tick
    /// boundary only when asked to abandon; otherwise it finishes what it is driving first).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.handle.tx.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The engine thread's loop: one command at a time; after a command that leaves a run
/// running, drive it before taking the next command.
fn serve(mut engine: Engine, rx: mpsc::Receiver<Command>) {
    while let Ok(cmd) = rx.recv() {
        let to_drive = match cmd {
            Command::Shutdown => return,
            Command::Start {
                title,
                bundle,
                provider,
                origin,
                reply,
            } => {
                let r = engine.begin_task(&title, &bundle, provider.as_deref());
                let _ = origin; // the start tick names the transport through the engine
                answer(reply, r)
            }
            Command::Decide { decision, reply } => answer(reply, engine.record_decision(&decision)),
            Command::Resume { reply } => answer(reply, engine.record_resume()),
            Command::Fork { request, reply } => {
                answer(reply, engine.begin_fork(&request).map(|f| f.report.run.id))
            }
            Command::Abandon {
                run,
                reason,
                origin,
                reply,
            } => {
                // The drive loop may have recorded the request already, at a tick boundary.
                let done = run
                    .and_then(|r| engine.store().run(r).ok())
                    .filter(|r| r.status == loom_kernel::RunStatus::Abandoned);
                let r = match done {
                    Some(r) => engine.report(r.id),
                    None => engine.abandon_as(reason.as_deref(), &origin),
                }
                .map(Box::new);
                let _ = reply.send(r.map_err(ServiceError::from));
                None
            }
        };
        if let Some(run) = to_drive {
            // A failed drive is already recorded as a stop in the run; the bus carries it.
            let _ = engine.drive_run(run);
        }
    }
}

fn answer(reply: Reply<u64>, r: loom_engine::Result<u64>) -> Option<u64> {
    let run = r.as_ref().ok().copied();
    let _ = reply.send(r.map_err(ServiceError::from));
    run
}

#[cfg(test)]
mod tests;
