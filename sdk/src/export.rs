//! Adapters from the author-facing traits to wit-bindgen's generated `Guest` traits.
//!
//! They live here, not in the macro expansion, so the author's crate contains no trait impls
//! of its own and the SDK's unit of review is this file.

use core::marker::PhantomData;

use crate::bindings::{logic, rules};
use crate::{Bundle, Change, Manifest, NextStep, Outcome, Rules, TickToken, Violation};

/// Exports a [`Bundle`] through the `bundle` world. Used by [`crate::bundle!`].
pub struct BundleExport<T>(PhantomData<T>);

impl<T: Bundle> logic::Guest for BundleExport<T> {
    fn manifest() -> Manifest {
        T::manifest()
    }

    fn next(tick: TickToken) -> NextStep {
        T::next(tick)
    }

    fn apply(tick: TickToken, step: String, outcome: Outcome) -> Result<Vec<Change>, String> {
        T::apply(tick, step, outcome)
    }
}

impl<T: Bundle> rules::Guest for BundleExport<T> {
    fn check(tick: TickToken) -> Vec<Violation> {
        T::check(tick)
    }
}

/// Exports [`Rules`] through the `invariants` world. Used by [`crate::invariants!`].
pub struct RulesExport<T>(PhantomData<T>);

impl<T: Rules> rules::Guest for RulesExport<T> {
    fn check(tick: TickToken) -> Vec<Violation> {
        T::check(tick)
    }
}
