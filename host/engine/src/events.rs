//! What the engine tells a transport while it works. Transports render; they hold no state.

use loom_kernel::TickRow;

pub trait Observer {
    /// A tick committed.
    fn tick(&mut self, _row: &TickRow) {}
    /// An effect is about to run (it may take long).
    fn effect_started(&mut self, _step: &str, _what: &str) {}
    /// Progress of a running effect (tokens so far, a provider switch…).
    fn progress(&mut self, _step: &str, _note: &str) {}
    /// The running effect finished (committed or not).
    fn effect_finished(&mut self, _step: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}
