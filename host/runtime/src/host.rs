//! What a bundle instance can reach: the `view` imports, and nothing else.
//!
//! The `view` functions read through the kernel's [`View`] held in the store data, so they see
//! the open tick's uncommitted writes. Every other import a component declares (a Rust std
//! guest declares about a dozen WASI interfaces it never calls) is linked to a stub that traps
//! with the import's name: the component loads, and the first call that would need a
//! capability stops the bundle with a message saying which one.

use crate::bindings::loom::bundle::types as wit;
use loom_kernel::View;
use std::fmt;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType};
use wasmtime::{Engine, ResourceLimiter, StoreContextMut, Trap};

/// The interface the host implements, under the version the host was built against; wasmtime
/// matches imports of any semver-compatible `0.1.x` to it.
pub(crate) const VIEW_INTERFACE: &str = "loom:bundle/view@0.1.0";

/// Fuel charged for each host call, on top of what the guest burns: fuel counts only guest
/// instructions, and a view call that reads SQLite costs microseconds of host time. A fixed
/// charge keeps the count deterministic (it does not depend on how fast the disk is).
pub(crate) const IMPORT_FUEL: u64 = 5_000;

/// Table growth is bounded too; no real bundle comes near this.
const TABLE_ELEMENTS_MAX: usize = 100_000;

/// The data of one call's store. Lives for exactly one call.
pub(crate) struct HostState {
    /// `None` while reading the manifest, which must not depend on any run.
    pub(crate) view: Option<View>,
    pub(crate) memory: MemoryCap,
}

impl HostState {
    pub(crate) fn new(view: Option<View>, memory_bytes: usize) -> HostState {
        HostState {
            view,
            memory: MemoryCap {
                limit_bytes: memory_bytes,
                refused: false,
            },
        }
    }
}

/// Refuses linear-memory growth past the limit, and remembers that it did: a guest that cannot
/// allocate usually traps shortly after (Rust aborts), and the caller reports that trap as
/// memory exhaustion rather than as whatever the abort path happened to hit.
pub(crate) struct MemoryCap {
    limit_bytes: usize,
    pub(crate) refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_MAX)
    }
}

/// Trap payload of a stubbed import: the bundle asked for a capability loom does not grant.
#[derive(Debug)]
pub(crate) struct Denied {
    pub(crate) import: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bundle called {}, which loom does not grant",
            self.import
        )
    }
}

impl std::error::Error for Denied {}

/// Trap payload of a `view` call that failed in the kernel (or had no view to read).
#[derive(Debug)]
pub(crate) struct ViewFault {
    pub(crate) detail: String,
}

impl fmt::Display for ViewFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ViewFault {}

/// A linker for `component`: the real `view`, then trapping stubs for everything else it imports.
pub(crate) fn linker(
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    add_view(&mut linker.instance(VIEW_INTERFACE)?)?;
    stub_ungranted(&mut linker, engine, component)?;
    Ok(linker)
}

/// True for imports loom implements (or, for a newer minor, refuses at link time instead of
/// stubbing, so a missing host function is a load error and not a surprise trap).
pub(crate) fn is_loom(name: &str) -> bool {
    name.starts_with("loom:bundle/")
}

fn stub_ungranted(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if is_loom(name) {
            continue;
        }
        match item.ty {
            ComponentItem::ComponentInstance(instance) => {
                let mut inst = linker.instance(name)?;
                for (export, item) in instance.exports(engine) {
                    stub_item(&mut inst, &format!("{name}#{export}"), export, &item.ty)?;
                }
            }
            item => stub_item(&mut linker.root(), name, name, &item)?,
        }
    }
    Ok(())
}

fn stub_item(
    inst: &mut LinkerInstance<'_, HostState>,
    full_name: &str,
    name: &str,
    item: &ComponentItem,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let import = full_name.to_owned();
            inst.func_new(name, move |_, _, _, _| {
                Err(wasmtime::Error::new(Denied {
                    import: import.clone(),
                }))
            })
        }
        // A resource type: one host type for all of them (as wasmtime's own
        // `define_unknown_imports_as_traps` does), so aliases of one resource in several
        // interfaces agree. No value of it can ever be created: every constructor traps.
        ComponentItem::Resource(_) => {
            inst.resource(name, ResourceType::host::<()>(), |_, _| Ok(()))
        }
        // Plain types need no definition; modules or components as imports are not something
        // a bundle toolchain produces, and instantiation will name them if one does.
        _ => Ok(()),
    }
}

/// Charges [`IMPORT_FUEL`], then runs `read` against the call's view. A kernel error becomes a
/// trap carrying its message: a bundle cannot handle a broken database, and must not guess.
fn view_call<R>(
    store: &mut StoreContextMut<'_, HostState>,
    func: &str,
    read: impl FnOnce(&View) -> loom_kernel::Result<R>,
) -> wasmtime::Result<R> {
    let fuel = store.get_fuel()?;
    if fuel < IMPORT_FUEL {
        store.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    store.set_fuel(fuel - IMPORT_FUEL)?;
    let Some(view) = store.data().view.as_ref() else {
        return Err(wasmtime::Error::new(ViewFault {
            detail: format!("view.{func} was called outside a run (e.g. from manifest)"),
        }));
    };
    read(view).map_err(|e| {
        wasmtime::Error::new(ViewFault {
            detail: format!("view.{func}: {e}"),
        })
    })
}

fn add_view(inst: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    inst.func_wrap("task", |mut s, (): ()| {
        view_call(&mut s, "task", |v| v.task()).map(|t| (wit::Task::from(t),))
    })?;
    inst.func_wrap("phase", |mut s, (): ()| {
        view_call(&mut s, "phase", |v| v.phase()).map(|p| (p,))
    })?;
    inst.func_wrap("facts", |mut s, (kind,): (String,)| {
        let facts = view_call(&mut s, "facts", |v| v.facts(&kind))?;
        Ok((facts.into_iter().map(wit::Fact::from).collect::<Vec<_>>(),))
    })?;
    inst.func_wrap("fact", |mut s, (kind, key): (String, String)| {
        let fact = view_call(&mut s, "fact", |v| v.fact(&kind, &key))?;
        Ok((fact.map(wit::Fact::from),))
    })?;
    inst.func_wrap("gates", |mut s, (): ()| {
        let gates = view_call(&mut s, "gates", |v| v.gates())?;
        Ok((gates.into_iter().map(wit::Gate::from).collect::<Vec<_>>(),))
    })?;
    inst.func_wrap("ledger", |mut s, (): ()| {
        let rows = view_call(&mut s, "ledger", |v| v.ledger())?;
        Ok((rows
            .into_iter()
            .map(wit::LedgerEntry::from)
            .collect::<Vec<_>>(),))
    })?;
    inst.func_wrap("setting", |mut s, (key,): (String,)| {
        view_call(&mut s, "setting", |v| v.setting(&key)).map(|v| (v,))
    })?;
    Ok(())
}
