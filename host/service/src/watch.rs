//! Noticing what other processes commit (the CLI beside a server, a second server): a thread
//! with its own read-only connection asks SQLite's `PRAGMA data_version` a few times a second,
//! which costs a few microseconds and changes only when another connection committed, and
//! then reads the ticks it has not published yet.

use crate::events::Bus;
use loom_kernel::Store;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the watcher looks: a change reaches the bus within this (plus the read).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Ticks read per look; the next look reads on.
const TICKS_PER_POLL_MAX: u32 = 512;

/// The watching thread; it stops when this is dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Watches the database at `db`, publishing ticks newer than what `bus` has seen. Ticks
    /// committed before the watcher starts are not replayed onto the bus.
    pub fn spawn(db: PathBuf, bus: Bus) -> Result<Watcher, loom_kernel::KernelError> {
        let newest = Store::open_read_only(&db)?
            .runs()?
            .last()
            .map_or(0, |r| ((r.id << 32) | r.last_seq) as i64);
        bus.start_after(newest);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // A connection is not `Send`: the thread opens its own.
        let thread = std::thread::Builder::new()
            .name("loom-watch".into())
            .spawn(move || {
                if let Ok(store) = Store::open_read_only(&db) {
                    watch(store, bus, flag);
                }
            })
            .map_err(|e| {
                loom_kernel::KernelError::Corrupt(format!("cannot start a thread: {e}"))
            })?;
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

fn watch(store: Store, bus: Bus, stop: Arc<AtomicBool>) {
    let mut version = store.data_version().ok();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(POLL_INTERVAL);
        let now = store.data_version().ok();
        if now == version {
            continue;
        }
        version = now;
        // Read until caught up; a failed read is retried at the next look.
        loop {
            let Ok(ticks) = store.ticks_after(bus.last_tick(), TICKS_PER_POLL_MAX) else {
                break;
            };
            let n = ticks.len();
            for t in &ticks {
                bus.tick(t);
            }
            if n < TICKS_PER_POLL_MAX as usize {
                break;
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
