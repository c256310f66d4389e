//! loom's transactional core.
//!
//! The kernel owns the SQLite schema and every statement run against it. A run advances in
//! ticks; each tick is one transaction ([`Tick`]) stamped with one [`TickToken`], and its
//! rules ([`Rules`]) are checked inside that transaction before it commits. Effects are
//! deduplicated by a ledger whose results commit with the state change they cause. Each tick
//! row carries a hash of the previous one, so the log can be proven unedited.
//!
//! The kernel knows nothing of how bundles are loaded, what effects are performed with, or what
//! a run's words mean: those are the engine's, the runtime's and the bundle's.

mod blobs;
mod commit;
mod error;
mod fork;
pub mod hash;
mod model;
mod query;
mod read_only;
mod replay;
mod results;
pub mod schema;
mod store;
mod texts;
mod tick;
mod token;
mod verify;
mod view;

pub use commit::tick_hash;
pub use error::{KernelError, Result};
pub use fork::ForkOrigin;
pub use model::*;
pub use replay::{first_difference, Replay, Replayed};
pub use results::RESULT_INLINE_BYTES_MAX;
pub use store::{Durability, Intent, NewRun, Store};
pub use texts::TEXT_INLINE_BYTES_MAX;
pub use tick::{Rules, Tick, TickMeta, GENESIS};
pub use verify::{verify_chain, ChainBreak};
pub use view::View;

#[cfg(test)]
mod bounded_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
