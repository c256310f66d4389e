//! Host-side bindings of `wit/bundle.wit`, private to this crate: the engine sees only the
//! plain mirror types of [`crate::types`]. Imports (`view`) are linked by hand in
//! [`crate::host`] rather than through the generated `add_to_linker`, because each import must
//! charge fuel, which needs the store, not just its data.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "loom:bundle/bundle",
});
