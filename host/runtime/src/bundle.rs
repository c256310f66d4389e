//! A loaded bundle, and the one way loom calls into it: a fresh store and instance per call.
//!
//! Nothing survives between calls (no guest global, no heap), so a call's result depends only
//! on the contract's inputs and what `view` reads, which is what lets a recorded run replay.
//! Instantiating from a prepared [`InstancePre`] with the pooling allocator costs microseconds.
//! What a call returns is checked against [`crate::limits`] before anyone else sees it, and a
//! bundle's manifest against [`crate::manifest`] before it is loaded.

use crate::contract::{self, Contract};
use crate::error::RuntimeError;
use crate::host::{self, Denied, HostState, ViewFault};
use crate::limits::{self, Exceeded, FAILURE_TEXT_BYTES_MAX, NAME_BYTES_MAX};
use crate::runtime::{short_label, Limits, Runtime};
use crate::types::{Change, Effect, Failure, Manifest, NextStep, Outcome};
use crate::wit::{self, Called};
use loom_kernel::hash::sha256_hex;
use loom_kernel::{Rules, TickToken, View, Violation};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

/// A component ready to be instantiated, with what every call needs to report faults.
struct Prepared {
    pre: InstancePre<HostState>,
    limits: Limits,
    /// `name@version` once the manifest is read; the short hash before.
    label: String,
    hash: String,
    contract: Contract,
    /// The declared defaults of settings, handed to `view.setting` (empty until the manifest
    /// is read, and for a bundle that declares none).
    defaults: Arc<BTreeMap<String, String>>,
}

impl Prepared {
    /// Compiles, checks the contract version and links `wasm`.
    fn new(runtime: &Runtime, wasm: &[u8]) -> Result<Prepared, RuntimeError> {
        let hash = sha256_hex(wasm);
        let label = short_label(&hash);
        let component = runtime.compile(wasm, &hash, &label)?;
        let engine = runtime.engine();
        let contract = contract::check(&component.component_type(), engine, &label)?;
        let link_err = |e: wasmtime::Error| RuntimeError::Link {
            bundle: label.clone(),
            detail: format!("{e:#}"),
        };
        let linker = host::linker(engine, &component, contract).map_err(link_err)?;
        let pre = linker.instantiate_pre(&component).map_err(link_err)?;
        Ok(Prepared {
            pre,
            limits: runtime.limits(),
            label,
            hash,
            contract,
            defaults: Arc::default(),
        })
    }

    /// Takes what the manifest says about the bundle: its name, and its settings' defaults.
    fn know(&mut self, manifest: &Manifest) {
        self.name_by(&manifest.name, &manifest.version);
        if let Some(needs) = &manifest.needs {
            let defaults = needs
                .settings
                .iter()
                .filter_map(|s| Some((s.key.clone(), s.default.clone()?)))
                .collect();
            self.defaults = Arc::new(defaults);
        }
    }

    fn logic(&self) -> Result<wit::Logic, RuntimeError> {
        wit::Logic::new(self.contract, &self.pre).map_err(|e| self.missing_export(e))
    }

    fn rules(&self) -> Result<wit::Rules, RuntimeError> {
        wit::Rules::new(self.contract, &self.pre).map_err(|e| self.missing_export(e))
    }

    /// The fault of a call that handed back more than a limit allows.
    fn exceeded(&self, call: &'static str, e: Exceeded) -> RuntimeError {
        RuntimeError::Limit {
            bundle: self.label.clone(),
            call,
            limit: e.limit,
            max: e.max,
            found: e.found,
            unit: e.unit,
            what: e.what,
        }
    }

    /// Names the bundle by its manifest, unless the name is unfit to appear in every message
    /// (the manifest check reports it then); the short hash stays until then.
    fn name_by(&mut self, name: &str, version: &str) {
        let fit = |s: &str| !s.trim().is_empty() && s.len() <= NAME_BYTES_MAX;
        if fit(name) && fit(version) {
            self.label = format!("{name}@{version}");
        }
    }

    fn missing_export(&self, e: wasmtime::Error) -> RuntimeError {
        RuntimeError::Link {
            bundle: self.label.clone(),
            detail: format!("{e:#}"),
        }
    }

    /// Runs `f` against a fresh instance in a fresh, metered store. A failure the bundle
    /// reports is a fault of the call, as a trap is.
    fn call<R>(
        &self,
        call: &'static str,
        view: Option<&View>,
        f: impl FnOnce(&mut Store<HostState>, &Instance) -> Called<R>,
    ) -> Result<R, RuntimeError> {
        let engine = self.pre.engine();
        let state = HostState::new(
            view.cloned(),
            self.limits.memory_bytes,
            self.defaults.clone(),
        );
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.memory);
        store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance));
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failure)) => Err(self.failed(call, &store, failure)),
            Err(e) => Err(self.fault(call, &store, &e)),
        }
    }

    /// The fault of a call in which the bundle reported a failure of its own code.
    fn failed(&self, call: &'static str, store: &Store<HostState>, f: Failure) -> RuntimeError {
        RuntimeError::Failed {
            bundle: self.label.clone(),
            call,
            message: limits::cut(&f.message, FAILURE_TEXT_BYTES_MAX).into_owned(),
            traceback: f
                .traceback
                .map(|t| limits::cut(&t, FAILURE_TEXT_BYTES_MAX).into_owned()),
            log: store.data().log_lines(),
        }
    }

    /// Names what went wrong in a call that failed, most specific cause first.
    fn fault(
        &self,
        call: &'static str,
        store: &Store<HostState>,
        e: &wasmtime::Error,
    ) -> RuntimeError {
        let bundle = self.label.clone();
        // First: a refused memory.grow is what makes a Rust guest abort, by whatever path.
        if store.data().memory.refused {
            return RuntimeError::OutOfMemory {
                bundle,
                call,
                limit_bytes: self.limits.memory_bytes,
            };
        }
        if let Some(Trap::OutOfFuel) = e.downcast_ref::<Trap>() {
            return RuntimeError::OutOfFuel {
                bundle,
                call,
                limit: self.limits.fuel_per_call,
            };
        }
        let log = store.data().log_lines();
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return RuntimeError::Denied {
                bundle,
                call,
                import: denied.import.clone(),
                hint: hint(&denied.import),
                log,
            };
        }
        if let Some(fault) = e.downcast_ref::<ViewFault>() {
            return RuntimeError::View {
                bundle,
                call,
                detail: fault.detail.clone(),
            };
        }
        let detail = match e.downcast_ref::<Trap>() {
            Some(Trap::UnreachableCodeReached) => {
                "it executed `unreachable` (a Rust bundle does this when it panics or aborts)"
                    .to_owned()
            }
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        RuntimeError::Trap {
            bundle,
            call,
            detail,
            log,
        }
    }

    fn check_rules(
        &self,
        rules: &wit::Rules,
        token: &TickToken,
        view: &View,
    ) -> Result<Vec<Violation>, RuntimeError> {
        let found = self.call("rules.check", Some(view), |store, instance| {
            rules.check(store, instance, token)
        })?;
        limits::violations(&found).map_err(|e| self.exceeded("rules.check", e))?;
        Ok(found)
    }
}

/// The likely reason a bundle reached for an import, when there is a usual one.
fn hint(import: &str) -> &'static str {
    if import.starts_with("wasi:cli/environment") {
        // std's panic handler reads RUST_BACKTRACE before it prints anything.
        "; a Rust bundle does this when it panics, so look for a panic in that call"
    } else if ["wasi:cli/stderr", "wasi:cli/stdout", "wasi:io/streams"]
        .iter()
        .any(|p| import.starts_with(p))
    {
        "; a Rust bundle does this when it panics or prints, so look for a panic or a print in that call"
    } else if import.starts_with("wasi:clocks") {
        "; a bundle's time is the tick token passed to each call"
    } else if import.starts_with("wasi:random") {
        "; randomness would make runs unrepeatable, so derive what you need from the tick token"
    } else {
        ""
    }
}

/// A loaded bundle (world `bundle`): its manifest, and calls to `next`, `apply` and `check`.
pub struct Bundle {
    prepared: Prepared,
    logic: wit::Logic,
    rules: wit::Rules,
    manifest: Manifest,
}

impl Bundle {
    pub(crate) fn load(runtime: &Runtime, wasm: &[u8]) -> Result<Bundle, RuntimeError> {
        let mut prepared = Prepared::new(runtime, wasm)?;
        let logic = prepared.logic()?;
        let rules = prepared.rules()?;
        let manifest = prepared.call("logic.manifest", None, |store, instance| {
            logic.manifest(store, instance)
        })?;
        prepared.know(&manifest);
        limits::manifest(&manifest).map_err(|e| prepared.exceeded("logic.manifest", e))?;
        let problems = crate::manifest::problems(&manifest);
        if !problems.is_empty() {
            return Err(RuntimeError::Manifest {
                bundle: prepared.label.clone(),
                problems,
            });
        }
        Ok(Bundle {
            prepared,
            logic,
            rules,
            manifest,
        })
    }

    /// The contract version the component targets.
    pub fn contract(&self) -> Contract {
        self.prepared.contract
    }

    /// SHA-256 (hex) of the component's bytes: what a run records as the bundle it ran.
    pub fn hash(&self) -> &str {
        &self.prepared.hash
    }

    /// `name@version`, as error messages name the bundle.
    pub fn label(&self) -> &str {
        &self.prepared.label
    }

    /// The manifest, read once at load.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// What the bundle wants to happen next in the run `view` shows.
    pub fn next(&self, token: &TickToken, view: &View) -> Result<NextStep, RuntimeError> {
        let call = "logic.next";
        let step = self.prepared.call(call, Some(view), |store, instance| {
            self.logic.next(store, instance, token)
        })?;
        limits::next_step(&step).map_err(|e| self.prepared.exceeded(call, e))?;
        self.declared(call, &step)?;
        Ok(step)
    }

    /// Refuses a command the manifest's needs do not declare: loom checked only the declared
    /// ones against the project before the task opened. A bundle of a contract without
    /// needs runs any command the project configures.
    fn declared(&self, call: &'static str, step: &NextStep) -> Result<(), RuntimeError> {
        let (Some(needs), NextStep::Effect(e)) = (&self.manifest.needs, step) else {
            return Ok(());
        };
        match &e.effect {
            Effect::Command(c) if !needs.commands.contains(&c.name) => {
                Err(RuntimeError::Undeclared {
                    bundle: self.prepared.label.clone(),
                    call,
                    command: c.name.clone(),
                    declared: crate::manifest::shown(needs.commands.iter().map(String::as_str)),
                })
            }
            _ => Ok(()),
        }
    }

    /// The changes `outcome` of `step` leads to. The inner `Err` is the bundle's own refusal
    /// (a value it returned); the outer one a fault of the call.
    pub fn apply(
        &self,
        token: &TickToken,
        view: &View,
        step: &str,
        outcome: &Outcome,
    ) -> Result<Result<Vec<Change>, String>, RuntimeError> {
        let call = "logic.apply";
        let result = self.prepared.call(call, Some(view), |store, instance| {
            self.logic.apply(store, instance, token, step, outcome)
        })?;
        let checked = match result {
            Err(refusal) => limits::refusal(&refusal).map(|()| Err(refusal)),
            Ok(changes) => {
                let within = limits::changes(&changes, view).map_err(|e| RuntimeError::View {
                    bundle: self.prepared.label.clone(),
                    call,
                    detail: e.to_string(),
                })?;
                within.map(|()| Ok(changes))
            }
        };
        checked.map_err(|e| self.prepared.exceeded(call, e))
    }

    /// The bundle's invariants over the state `view` shows; empty when all hold.
    pub fn check_rules(
        &self,
        token: &TickToken,
        view: &View,
    ) -> Result<Vec<Violation>, RuntimeError> {
        self.prepared.check_rules(&self.rules, token, view)
    }
}

impl Rules for Bundle {
    fn check(&self, token: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        self.check_rules(token, view).map_err(|e| e.to_string())
    }
}

/// Rules alone (world `invariants`, or a bundle's `rules`), to check a run against.
pub struct Invariants {
    prepared: Prepared,
    rules: wit::Rules,
}

impl Invariants {
    pub(crate) fn load(runtime: &Runtime, wasm: &[u8]) -> Result<Invariants, RuntimeError> {
        let mut prepared = Prepared::new(runtime, wasm)?;
        let rules = prepared.rules()?;
        // A full bundle can name itself (and its rules read its settings' defaults, as in
        // the run); a rules-only component stays known by its hash.
        if let Ok(logic) = prepared.logic() {
            let manifest = prepared.call("logic.manifest", None, |store, instance| {
                logic.manifest(store, instance)
            })?;
            prepared.know(&manifest);
        }
        Ok(Invariants { prepared, rules })
    }

    /// The contract version the component targets.
    pub fn contract(&self) -> Contract {
        self.prepared.contract
    }

    /// SHA-256 (hex) of the component's bytes.
    pub fn hash(&self) -> &str {
        &self.prepared.hash
    }

    /// `name@version` for a full bundle, `sha256:<12 hex>` for a rules-only component.
    pub fn label(&self) -> &str {
        &self.prepared.label
    }

    pub fn check_rules(
        &self,
        token: &TickToken,
        view: &View,
    ) -> Result<Vec<Violation>, RuntimeError> {
        self.prepared.check_rules(&self.rules, token, view)
    }
}

impl Rules for Invariants {
    fn check(&self, token: &TickToken, view: &View) -> Result<Vec<Violation>, String> {
        self.check_rules(token, view).map_err(|e| e.to_string())
    }
}
