//! The generated bindings: private to the SDK, reached by bundle authors only through the
//! curated re-exports in the crate root and through the `bundle!`/`invariants!` macros.
//!
//! They are generated from the crate's own copy of the contract, `wit/bundle.wit`
//! (`loom:bundle@0.2.0`), so the crate builds wherever it is, without a loom checkout.
//!
//! Two worlds are generated. `bundle` is the one bundles use; its export macro is public so the
//! macros can invoke it from the author's crate, which makes wit-bindgen emit the world's
//! "imports and exports" type section *there* and only an imports-only section here (a crate
//! that links the SDK but exports nothing is not forced to export anything).
//!
//! `invariants` is generated only for its encoded world: two public export macros would both
//! define the crate-root `__export_loom_bundle_rules_0_2_0_cabi` macro and clash, so this one
//! keeps its macros private and `invariants!` reuses the `bundle` world's `rules` glue, copying
//! [`INVARIANTS_WORLD`] into a type section in the author's crate. Types, the view and the log
//! are shared with the `bundle` world through `with`, so there is one `Fact`, one `Violation`,
//! and so on.
#![allow(unsafe_code)] // wit-bindgen's canonical-ABI glue is unsafe by nature.

pub mod bundle {
    wit_bindgen::generate!({
        path: "wit",
        world: "loom:bundle/bundle",
        pub_export_macro: true,
        export_macro_name: "export_bundle",
        additional_derives: [PartialEq, Eq],
    });
}

#[allow(unused_imports)] // the private `export!` this generates is never used, see above
pub(crate) mod invariants {
    wit_bindgen::generate!({
        path: "wit",
        world: "loom:bundle/invariants",
        with: {
            "loom:bundle/types@0.2.0": crate::bindings::bundle::loom::bundle::types,
            "loom:bundle/view@0.2.0": crate::bindings::bundle::loom::bundle::view,
            "loom:bundle/log@0.2.0": crate::bindings::bundle::loom::bundle::log,
        },
    });
}

pub(crate) use bundle::exports::loom::bundle::{logic, rules};
#[cfg(target_arch = "wasm32")]
pub(crate) use bundle::loom::bundle::view;
pub(crate) use bundle::loom::bundle::{log, types};

/// Length of [`INVARIANTS_WORLD`].
#[cfg(target_arch = "wasm32")]
pub const INVARIANTS_WORLD_LEN: usize =
    core::mem::size_of_val(&invariants::__WIT_BINDGEN_COMPONENT_TYPE);

/// The `invariants` world, encoded as wit-component expects in a `component-type*` section.
#[cfg(target_arch = "wasm32")]
pub static INVARIANTS_WORLD: [u8; INVARIANTS_WORLD_LEN] = invariants::__WIT_BINDGEN_COMPONENT_TYPE;
