//! Write loom bundles in Rust: implement [`Bundle`], call [`bundle!`], build for
//! `wasm32-wasip2`.
//!
//! A bundle is the domain of a loom run: phases, steps, gates, typed prompt templates and the
//! invariants that must hold at every commit. loom drives the run and performs every effect;
//! the bundle only decides, from the state it reads through [`view`]:
//!
//! - [`Bundle::next`]: which step comes next (an effect, a gate, finish or fail);
//! - [`Bundle::apply`]: which state changes a step's outcome leads to;
//! - [`Bundle::check`]: which invariants the state about to be committed breaks.
//!
//! ```ignore
//! use loom_sdk::{ApplyError, Bundle, Change, Failure, Manifest, NextStep, Outcome, TickToken, Violation};
//!
//! struct Hello;
//!
//! impl Bundle for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new("hello", "0.1.0").phases(&["greet", "done"])
//!     }
//!     fn next(_tick: TickToken) -> Result<NextStep, Failure> {
//!         Ok(NextStep::Finish("hello".into()))
//!     }
//!     fn apply(_tick: TickToken, _step: String, _outcome: Outcome) -> Result<Vec<Change>, ApplyError> {
//!         Ok(vec![])
//!     }
//!     fn check(_tick: TickToken) -> Result<Vec<Violation>, Failure> {
//!         Ok(vec![])
//!     }
//! }
//!
//! loom_sdk::bundle!(Hello);
//! ```
//!
//! The crate binds `loom:bundle@0.2.0` from its own copy of the contract (`wit/bundle.wit`),
//! so it builds as a path or git dependency anywhere. [`testing`] (native builds only) has a
//! scripted [`view`] and a harness to drive a bundle through its phases in `cargo test`. See
//! the crate README for a complete bundle and the rules a bundle must follow.

mod bindings;
mod builders;
mod errors;
mod export;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod view;

pub use builders::arg;
pub use errors::{ApplyError, Failure};

pub use bindings::types::{
    AgentCall, AgentReply, ApplyDiffCall, Arg, ArgValue, Change, CommandCall, CommandResult,
    Decider, DiffResult, Effect, EffectStep, Fact, FactRef, FactWrite, Gate, GateDecision,
    GateDecl, GateStatus, GateStep, LedgerEntry, Manifest, Needs, NextStep, Outcome, Param,
    ParamType, Risk, RuleDecl, SettingDecl, StepDecl, Task, Template, TickToken, Violation,
};

/// A bundle: the four exports of the `loom:bundle/bundle` world. Export it with [`bundle!`].
///
/// Every function is called on a fresh instance, so a bundle keeps no state between calls:
/// whatever it must remember it writes as facts (through [`Change`]) and reads back through
/// [`view`]. Given the same view, tick and outcome, each function must return the same value;
/// that is what lets loom replay a run.
///
/// A [`Failure`] (or a panic) is a bug in the bundle: the tick rolls back and the run stops
/// with a bundle fault whose message carries the failure's text and the call's last [`log`]
/// lines.
pub trait Bundle {
    /// The bundle's name, version, phases, steps, gates, rules, templates and needs.
    fn manifest() -> Manifest;

    /// What comes next in the committed state.
    fn next(tick: TickToken) -> Result<NextStep, Failure>;

    /// The state changes that follow from `outcome` of `step` (the step name of an effect, or
    /// the gate name for a gate decision). [`ApplyError::Refused`] says the outcome is not
    /// usable (e.g. a reply in the wrong format): loom records why instead of committing
    /// anything.
    fn apply(tick: TickToken, step: String, outcome: Outcome) -> Result<Vec<Change>, ApplyError>;

    /// The invariants broken by the state about to be committed (read through [`view`], which
    /// includes this tick's uncommitted writes). Any violation rolls the tick back.
    fn check(tick: TickToken) -> Result<Vec<Violation>, Failure>;
}

/// Invariants alone: the `loom:bundle/invariants` world, which `loom replay --invariants`
/// checks a recorded run against. Export it with [`invariants!`].
pub trait Rules {
    /// As [`Bundle::check`].
    fn check(tick: TickToken) -> Result<Vec<Violation>, Failure>;
}

/// Exports a type implementing [`Bundle`] as this crate's component (world `bundle`).
///
/// Call it once, in a `cdylib` crate built for `wasm32-wasip2`. On other targets it expands to
/// nothing, so the crate still builds and tests natively.
#[macro_export]
macro_rules! bundle {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)] // the canonical-ABI export glue
        const _: () = {
            type __LoomBundleExport = $crate::__private::BundleExport<$ty>;
            $crate::__private::export_bundle!(
                __LoomBundleExport with_types_in $crate::__private::bundle
            );
        };
    };
}

/// Exports a type implementing [`Rules`] as this crate's component (world `invariants`).
///
/// Call it once, instead of [`bundle!`], in a `cdylib` crate built for `wasm32-wasip2`.
#[macro_export]
macro_rules! invariants {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)] // the canonical-ABI export glue and the world's type section
        const _: () = {
            type __LoomRulesExport = $crate::__private::RulesExport<$ty>;
            $crate::__private::export_rules!(
                __LoomRulesExport with_types_in $crate::__private::bundle::exports::loom::bundle::rules
            );
            // What `export_bundle!` does for the `bundle` world: describe the world in a
            // `component-type*` section of the author's crate, for wit-component to find.
            #[unsafe(link_section = "component-type:loom-sdk:invariants")]
            #[used]
            static __LOOM_INVARIANTS_WORLD: [u8; $crate::__private::INVARIANTS_WORLD_LEN] =
                $crate::__private::INVARIANTS_WORLD;
        };
    };
}

/// What the macros expand to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::bundle;
    pub use crate::bindings::bundle::export_bundle;
    pub use crate::bindings::bundle::exports::loom::bundle::rules::__export_loom_bundle_rules_0_2_0_cabi as export_rules;
    #[cfg(target_arch = "wasm32")]
    pub use crate::bindings::{INVARIANTS_WORLD, INVARIANTS_WORLD_LEN};
    pub use crate::export::{BundleExport, RulesExport};
}
