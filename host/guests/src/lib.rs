//! loom's guest components, built from source by this crate's build script.
//!
//! The bytes are embedded at compile time, so the `loom` binary carries its shipped bundles
//! and tests need no paths or checked-in binaries. The build script needs the
//! `wasm32-wasip2` Rust target (`rustup target add wasm32-wasip2`).

/// The shipped `code` bundle (`bundles/code`), a `loom:bundle` component.
pub const CODE_BUNDLE: &[u8] = include_bytes!(env!("LOOM_GUEST_CODE"));

/// The test guest (`bundles/testkit`, `loom:bundle@0.2.0`): a tiny well-behaved bundle, or a
/// hostile one when the task title names a hostile mode (`hostile:loop`, `hostile:fail`, …;
/// see its docs).
pub const TESTKIT: &[u8] = include_bytes!(env!("LOOM_GUEST_TESTKIT"));

/// The testkit as built against `loom:bundle@0.1.0` (`bundles/testkit-0.1`, bundle
/// `testkit-legacy`): proof that a 0.1.0 bundle keeps loading, running and replaying.
pub const TESTKIT_0_1: &[u8] = include_bytes!(env!("LOOM_GUEST_TESTKIT_0_1"));

/// The loom-sdk README's example (`bundles/hello`): a bundle written with the SDK, whose
/// `next` panics when the task title contains `panic`.
pub const HELLO: &[u8] = include_bytes!(env!("LOOM_GUEST_HELLO"));

/// A test guest (`bundles/bad-manifest`) whose manifest has one of each problem loom refuses
/// at load.
pub const BAD_MANIFEST: &[u8] = include_bytes!(env!("LOOM_GUEST_BAD_MANIFEST"));

/// The example rule set (`bundles/human-gates`), a `loom:bundle` component of world
/// `invariants`: every gate is decided by a human.
pub const HUMAN_GATES: &[u8] = include_bytes!(env!("LOOM_GUEST_HUMAN_GATES"));

#[cfg(test)]
mod tests {
    /// The guests are components (layer 1), not core modules.
    #[test]
    fn guests_are_components() {
        for guest in [
            super::CODE_BUNDLE,
            super::TESTKIT,
            super::BAD_MANIFEST,
            super::HUMAN_GATES,
            super::TESTKIT_0_1,
            super::HELLO,
        ] {
            assert_eq!(&guest[..4], b"\0asm");
            assert_eq!(&guest[6..8], &[1, 0], "component layer");
        }
    }
}
