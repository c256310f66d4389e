//! What a bundle instance can reach: the `view` imports (and from 0.2.0 `log`), and nothing
//! else.
//!
//! The `view` functions read through the kernel's [`View`] held in the store data, so they see
//! the open tick's uncommitted writes. `log` lines are kept in the store data too, the last
//! [`LOG_LINES_KEPT`] of them, for the message of a fault in that call; they are not part of
//! the run's record. Each version's functions are defined in [`crate::wit`]. Every other import a component declares (a Rust std
//! guest declares about a dozen WASI interfaces it never calls) is linked to a stub that traps
//! with the import's name: the component loads, and the first call that would need a
//! capability stops the bundle with a message saying which one.

use crate::contract::Contract;
use crate::limits::{LOG_LINES_KEPT, LOG_LINE_BYTES_MAX};
use loom_kernel::View;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType};
use wasmtime::{Engine, ResourceLimiter, StoreContextMut, Trap};

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
    /// The defaults of the settings the manifest declares, for `view.setting`.
    defaults: Arc<BTreeMap<String, String>>,
    /// The last lines the bundle wrote to `log` in this call.
    pub(crate) log: VecDeque<String>,
}

impl HostState {
    pub(crate) fn new(
        view: Option<View>,
        memory_bytes: usize,
        defaults: Arc<BTreeMap<String, String>>,
    ) -> HostState {
        HostState {
            view,
            memory: MemoryCap {
                limit_bytes: memory_bytes,
                refused: false,
            },
            defaults,
            log: VecDeque::new(),
        }
    }

    /// The declared default of setting `key`, if any.
    pub(crate) fn default_of(&self, key: &str) -> Option<String> {
        self.defaults.get(key).cloned()
    }

    /// The kept log lines, oldest first.
    pub(crate) fn log_lines(&self) -> Vec<String> {
        self.log.iter().cloned().collect()
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

/// A linker for `component`, which targets `contract`: that version's `view` (and `log`),
/// then trapping stubs for everything else it imports.
pub(crate) fn linker(
    engine: &Engine,
    component: &Component,
    contract: Contract,
) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    crate::wit::link(&mut linker, contract)?;
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

/// Charges [`IMPORT_FUEL`] for a host call; out of fuel is the same trap the guest's own
/// instructions would hit.
fn charge(store: &mut StoreContextMut<'_, HostState>) -> wasmtime::Result<()> {
    let fuel = store.get_fuel()?;
    if fuel < IMPORT_FUEL {
        store.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    store.set_fuel(fuel - IMPORT_FUEL)?;
    Ok(())
}

/// Charges [`IMPORT_FUEL`], then runs `read` against the call's view. A kernel error becomes a
/// trap carrying its message: a bundle cannot handle a broken database, and must not guess.
pub(crate) fn view_call<R>(
    store: &mut StoreContextMut<'_, HostState>,
    func: &str,
    read: impl FnOnce(&View) -> loom_kernel::Result<R>,
) -> wasmtime::Result<R> {
    charge(store)?;
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

/// `log.write`: keeps `message` (cut to [`LOG_LINE_BYTES_MAX`]) as one of the call's last
/// [`LOG_LINES_KEPT`] lines. Charged like a view read, so a bundle that logs in a loop still
/// runs out of fuel at a fixed point.
pub(crate) fn log_write(
    store: &mut StoreContextMut<'_, HostState>,
    level: &str,
    message: &str,
) -> wasmtime::Result<()> {
    charge(store)?;
    let line = format!(
        "{level}: {}",
        crate::limits::cut(message, LOG_LINE_BYTES_MAX)
    );
    let log = &mut store.data_mut().log;
    if log.len() == LOG_LINES_KEPT {
        log.pop_front();
    }
    log.push_back(line);
    Ok(())
}
