//! Adapters from the author-facing traits to wit-bindgen's generated `Guest` traits.
//!
//! They live here, not in the macro expansion, so the author's crate contains no trait impls
//! of its own and the SDK's unit of review is this file. Every entry point installs the panic
//! hook first (each call runs in a fresh instance), so a panic anywhere in the bundle reaches
//! loom's message.

use core::marker::PhantomData;

use crate::bindings::{logic, rules, types};
use crate::log::install_panic_hook;
use crate::{Bundle, Change, Manifest, NextStep, Outcome, Rules, TickToken, Violation};

/// Exports a [`Bundle`] through the `bundle` world. Used by [`crate::bundle!`].
pub struct BundleExport<T>(PhantomData<T>);

impl<T: Bundle> logic::Guest for BundleExport<T> {
    fn manifest() -> Result<Manifest, types::Failure> {
        install_panic_hook();
        Ok(T::manifest())
    }

    fn next(tick: TickToken) -> Result<NextStep, types::Failure> {
        install_panic_hook();
        T::next(tick).map_err(Into::into)
    }

    fn apply(
        tick: TickToken,
        step: String,
        outcome: Outcome,
    ) -> Result<Vec<Change>, types::ApplyError> {
        install_panic_hook();
        T::apply(tick, step, outcome).map_err(Into::into)
    }
}

impl<T: Bundle> rules::Guest for BundleExport<T> {
    fn check(tick: TickToken) -> Result<Vec<Violation>, types::Failure> {
        install_panic_hook();
        T::check(tick).map_err(Into::into)
    }
}

/// Exports [`Rules`] through the `invariants` world. Used by [`crate::invariants!`].
pub struct RulesExport<T>(PhantomData<T>);

impl<T: Rules> rules::Guest for RulesExport<T> {
    fn check(tick: TickToken) -> Result<Vec<Violation>, types::Failure> {
        install_panic_hook();
        T::check(tick).map_err(Into::into)
    }
}
