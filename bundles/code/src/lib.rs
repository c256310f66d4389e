//! `code`: loom's built-in bundle for review-gated implementation.
//!
//! plan → (gate `plan`) → implement → apply → review ⇄ fix → test → (gate `accept`) → done.
//! The README documents the phases, the facts, the exact reply formats, the settings and the
//! invariants.
//!
//! The logic is pure functions over a [`State`] snapshot ([`logic`], [`rules`]); the only code
//! that touches the host is the thin [`Code`] glue below, so everything else is tested natively.

pub mod glob;
pub mod logic;
pub mod manifest;
pub mod reply;
pub mod rules;
pub mod settings;
pub mod state;
pub mod summary;

#[cfg(test)]
mod tests;

use loom_sdk::{
    view, ApplyError, Bundle, Change, Failure, Manifest, NextStep, Outcome, TickToken, Violation,
};

pub use settings::Settings;
pub use state::State;

/// The bundle as loom sees it: reads a [`State`] through the view and hands it to the logic.
pub struct Code;

impl Bundle for Code {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn next(_tick: TickToken) -> Result<NextStep, Failure> {
        Ok(match Settings::read(view::setting) {
            Ok(settings) => logic::next(&State::read(settings)),
            Err(e) => NextStep::Fail(e),
        })
    }

    fn apply(_tick: TickToken, step: String, outcome: Outcome) -> Result<Vec<Change>, ApplyError> {
        let settings = Settings::read(view::setting)?;
        Ok(logic::apply(&State::read(settings), &step, &outcome)?)
    }

    fn check(_tick: TickToken) -> Result<Vec<Violation>, Failure> {
        // One indexed read decides whether any rule can fire: only once the latest opening
        // of `accept` is approved, which lets the run finish.
        if !rules::may_fire(view::latest_gate("accept").as_ref()) {
            return Ok(Vec::new());
        }
        // The rules read no settings, so a malformed setting cannot hide a violation.
        Ok(rules::check(&State::read_around(
            view::gates(),
            Settings::default(),
        )))
    }
}

loom_sdk::bundle!(Code);
