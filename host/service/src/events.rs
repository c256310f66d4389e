//! Typed events on a broadcast bus. Every transport subscribes; a slow one that lags behind
//! the bus's capacity is told so (`RecvError::Lagged`) and re-reads the database, which is the
//! truth the events only point at.

use loom_engine::Observer;
use loom_kernel::{Decider, RunStatus, TickKind, TickRow, Write};
use serde::Serialize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events the bus holds for a subscriber that has not read them yet.
pub const BUS_CAPACITY: usize = 1024;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    TickCommitted {
        run: u64,
        seq: u64,
        #[serde(serialize_with = "kind_str")]
        kind: TickKind,
        step: Option<String>,
        summary: String,
    },
    GateOpened {
        run: u64,
        gate: u64,
        name: String,
        decider: Decider,
        shown_hash: String,
    },
    GateDecided {
        run: u64,
        gate: u64,
        approved: bool,
        by: String,
        transport: String,
    },
    RunStatusChanged {
        run: u64,
        status: RunStatus,
        reason: Option<String>,
    },
    EffectStarted {
        step: String,
        what: String,
    },
    EffectProgress {
        step: String,
        note: String,
    },
    EffectFinished {
        step: String,
    },
}

/// A tick kind in loom's one spelling (`gate-open`), as every view and `replay --ticks` say it
/// (the kernel's own serde form, `gateopen`, is its storage's, not the vocabulary's).
fn kind_str<S: serde::Serializer>(k: &TickKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

/// The bus plus the id of the newest tick published on it, shared by the in-process observer
/// and the watcher of other processes' commits so that each tick is published exactly once.
#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<Event>,
    last_tick: Arc<AtomicI64>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        Bus {
            tx,
            last_tick: Arc::new(AtomicI64::new(0)),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    pub(crate) fn send(&self, e: Event) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(e);
    }

    /// Ticks up to this id were published (run·2³² + seq).
    pub(crate) fn last_tick(&self) -> i64 {
        self.last_tick.load(Ordering::SeqCst)
    }

    pub(crate) fn start_after(&self, id: i64) {
        self.last_tick.fetch_max(id, Ordering::SeqCst);
    }

    /// Publishes a committed tick and what it did, unless it was published already.
    pub(crate) fn tick(&self, row: &TickRow) {
        let id = ((row.run_id << 32) | row.seq) as i64;
        if self.last_tick.fetch_max(id, Ordering::SeqCst) >= id {
            return;
        }
        for e in events_of(row) {
            self.send(e);
        }
    }
}

/// The events one committed tick stands for: the tick itself, then its gate and status writes.
pub fn events_of(row: &TickRow) -> Vec<Event> {
    let mut out = vec![Event::TickCommitted {
        run: row.run_id,
        seq: row.seq,
        kind: row.kind,
        step: row.step.clone(),
        summary: row.summary.clone(),
    }];
    // A change list that does not parse is damaged data; the tick event still goes out and
    // `loom verify` names the damage.
    let writes: Vec<Write> = serde_json::from_str(&row.changes).unwrap_or_default();
    for w in writes {
        match w {
            Write::GateOpen {
                id,
                name,
                decider,
                shown_hash,
                ..
            } => out.push(Event::GateOpened {
                run: row.run_id,
                gate: id,
                name,
                decider,
                shown_hash,
            }),
            Write::GateDecide {
                id,
                approved,
                by,
                transport,
                ..
            } => out.push(Event::GateDecided {
                run: row.run_id,
                gate: id,
                approved,
                by,
                transport,
            }),
            Write::RunStatus { status, reason, .. } => out.push(Event::RunStatusChanged {
                run: row.run_id,
                status,
                reason,
            }),
            _ => {}
        }
    }
    out
}

/// The engine's observer inside the service: everything goes on the bus.
pub(crate) struct BusObserver(pub Bus);

impl Observer for BusObserver {
    fn tick(&mut self, row: &TickRow) {
        self.0.tick(row);
    }
    fn effect_started(&mut self, step: &str, what: &str) {
        self.0.send(Event::EffectStarted {
            step: step.to_owned(),
            what: what.to_owned(),
        });
    }
    fn progress(&mut self, step: &str, note: &str) {
        self.0.send(Event::EffectProgress {
            step: step.to_owned(),
            note: note.to_owned(),
        });
    }
    fn effect_finished(&mut self, step: &str) {
        self.0.send(Event::EffectFinished {
            step: step.to_owned(),
        });
    }
}
