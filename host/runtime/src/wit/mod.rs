//! The contract versions this host binds, one module each, and the one internal model they
//! all convert into (Zed's `since_vX` modules, Spin's "v1 delegates to v2").
//!
//! Each module ([`v0_1`], [`v0_2`]) holds the bindings generated from its frozen
//! `wit/<version>/bundle.wit`, links that version's imports (`view`, and from 0.2.0 `log`)
//! and converts its values to and from [`crate::types`], so nothing outside this directory
//! sees a generated type. What a newer version adds gets a neutral value for an older one
//! (no `needs`, no editable gate, a `next` that cannot fail), so the engine handles every
//! bundle alike. The types whose shape no version changed share their conversions and their
//! `view` functions through the macros below.

use crate::contract::Contract;
use crate::host::HostState;
use crate::types::{Change, Failure, Manifest, NextStep, Outcome};
use loom_kernel::{TickToken, Violation};
use wasmtime::component::{Instance, InstancePre, Linker};
use wasmtime::Store;

pub(crate) mod v0_1;
pub(crate) mod v0_2;

/// What one call hands back: the bundle's own failure (`Err`) is a value of the call, told
/// apart from a trap (the outer `wasmtime::Result`).
pub(crate) type Called<T> = wasmtime::Result<Result<T, Failure>>;

/// What `apply` hands back: changes, or the bundle's refusal of the outcome.
pub(crate) type Applied = Result<Vec<Change>, String>;

/// Links the imports of `contract` into `linker`.
pub(crate) fn link(linker: &mut Linker<HostState>, contract: Contract) -> wasmtime::Result<()> {
    match contract {
        Contract::V0_1 => v0_1::link(linker),
        Contract::V0_2 => v0_2::link(linker),
    }
}

/// The `logic` export of a component, of whichever version it targets.
pub(crate) enum Logic {
    V0_1(v0_1::Logic),
    V0_2(v0_2::Logic),
}

impl Logic {
    pub(crate) fn new(contract: Contract, pre: &InstancePre<HostState>) -> wasmtime::Result<Logic> {
        Ok(match contract {
            Contract::V0_1 => Logic::V0_1(v0_1::Logic::new(pre)?),
            Contract::V0_2 => Logic::V0_2(v0_2::Logic::new(pre)?),
        })
    }

    pub(crate) fn manifest(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> Called<Manifest> {
        match self {
            Logic::V0_1(l) => l.manifest(store, instance),
            Logic::V0_2(l) => l.manifest(store, instance),
        }
    }

    pub(crate) fn next(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        token: &TickToken,
    ) -> Called<NextStep> {
        match self {
            Logic::V0_1(l) => l.next(store, instance, token),
            Logic::V0_2(l) => l.next(store, instance, token),
        }
    }

    pub(crate) fn apply(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        token: &TickToken,
        step: &str,
        outcome: &Outcome,
    ) -> Called<Applied> {
        match self {
            Logic::V0_1(l) => l.apply(store, instance, token, step, outcome),
            Logic::V0_2(l) => l.apply(store, instance, token, step, outcome),
        }
    }
}

/// The `rules` export of a component, of whichever version it targets.
pub(crate) enum Rules {
    V0_1(v0_1::Rules),
    V0_2(v0_2::Rules),
}

impl Rules {
    pub(crate) fn new(contract: Contract, pre: &InstancePre<HostState>) -> wasmtime::Result<Rules> {
        Ok(match contract {
            Contract::V0_1 => Rules::V0_1(v0_1::Rules::new(pre)?),
            Contract::V0_2 => Rules::V0_2(v0_2::Rules::new(pre)?),
        })
    }

    pub(crate) fn check(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        token: &TickToken,
    ) -> Called<Vec<Violation>> {
        match self {
            Rules::V0_1(r) => r.check(store, instance, token),
            Rules::V0_2(r) => r.check(store, instance, token),
        }
    }
}

/// Conversions of the types no version has changed, for the version module it is expanded
/// in, which names its generated types module `wit`. Every one is total (the WIT enums and
/// variants map one to one), so none can fail.
macro_rules! shared_conversions {
    () => {
        impl From<wit::StepDecl> for crate::types::StepDecl {
            fn from(s: wit::StepDecl) -> Self {
                crate::types::StepDecl {
                    name: s.name,
                    phase: s.phase,
                    role: s.role,
                    template: s.template,
                    doc: s.doc,
                }
            }
        }

        impl From<wit::RuleDecl> for crate::types::RuleDecl {
            fn from(r: wit::RuleDecl) -> Self {
                crate::types::RuleDecl {
                    id: r.id,
                    doc: r.doc,
                }
            }
        }

        impl From<wit::Template> for crate::types::Template {
            fn from(t: wit::Template) -> Self {
                crate::types::Template {
                    id: t.id,
                    params: t.params.into_iter().map(Into::into).collect(),
                    body: t.body,
                }
            }
        }

        impl From<wit::ParamType> for crate::types::ParamType {
            fn from(t: wit::ParamType) -> Self {
                match t {
                    wit::ParamType::Text => crate::types::ParamType::Text,
                    wit::ParamType::Integer => crate::types::ParamType::Integer,
                    wit::ParamType::Boolean => crate::types::ParamType::Boolean,
                    wit::ParamType::TextList => crate::types::ParamType::TextList,
                }
            }
        }

        impl From<wit::Param> for crate::types::Param {
            fn from(p: wit::Param) -> Self {
                crate::types::Param {
                    name: p.name,
                    ty: p.type_.into(),
                    required: p.required,
                    doc: p.doc,
                }
            }
        }

        impl From<wit::NextStep> for crate::types::NextStep {
            fn from(n: wit::NextStep) -> Self {
                use crate::types as t;
                match n {
                    wit::NextStep::Effect(e) => t::NextStep::Effect(t::EffectStep {
                        step: e.step,
                        effect: e.effect.into(),
                    }),
                    wit::NextStep::Gate(g) => t::NextStep::Gate(t::GateStep {
                        gate: g.gate,
                        summary: g.summary,
                        require_human: g.require_human,
                    }),
                    wit::NextStep::Finish(s) => t::NextStep::Finish(s),
                    wit::NextStep::Fail(s) => t::NextStep::Fail(s),
                }
            }
        }

        impl From<wit::Effect> for crate::types::Effect {
            fn from(e: wit::Effect) -> Self {
                use crate::types as t;
                match e {
                    wit::Effect::Agent(a) => t::Effect::Agent(t::AgentCall {
                        role: a.role,
                        template: a.template,
                        args: a.args.into_iter().map(Into::into).collect(),
                        edits_tree: a.edits_tree,
                    }),
                    wit::Effect::ApplyDiff(d) => t::Effect::ApplyDiff(t::ApplyDiffCall {
                        source_key: d.source_key,
                    }),
                    wit::Effect::Command(c) => t::Effect::Command(t::CommandCall {
                        name: c.name,
                        retry_safe: c.retry_safe,
                    }),
                }
            }
        }

        impl From<wit::Arg> for crate::types::Arg {
            fn from(a: wit::Arg) -> Self {
                use crate::types::ArgValue as V;
                crate::types::Arg {
                    name: a.name,
                    value: match a.value {
                        wit::ArgValue::Text(s) => V::Text(s),
                        wit::ArgValue::Integer(i) => V::Integer(i),
                        wit::ArgValue::Boolean(b) => V::Boolean(b),
                        wit::ArgValue::TextList(l) => V::TextList(l),
                    },
                }
            }
        }

        impl From<wit::Change> for crate::types::Change {
            fn from(c: wit::Change) -> Self {
                use crate::types::Change as C;
                match c {
                    wit::Change::Phase(p) => C::Phase(p),
                    wit::Change::PutFact(f) => C::PutFact {
                        kind: f.kind,
                        key: f.key,
                        value: f.value,
                    },
                    wit::Change::DropFact(f) => C::DropFact {
                        kind: f.kind,
                        key: f.key,
                    },
                    wit::Change::Note(n) => C::Note(n),
                }
            }
        }

        impl From<wit::Violation> for loom_kernel::Violation {
            fn from(v: wit::Violation) -> Self {
                loom_kernel::Violation {
                    rule: v.rule,
                    message: v.message,
                    rows: v.rows,
                }
            }
        }

        impl From<wit::Decider> for loom_kernel::Decider {
            fn from(d: wit::Decider) -> Self {
                match d {
                    wit::Decider::Human => loom_kernel::Decider::Human,
                    wit::Decider::Agent => loom_kernel::Decider::Agent,
                    wit::Decider::Rule => loom_kernel::Decider::Rule,
                }
            }
        }

        impl From<wit::Risk> for loom_kernel::Risk {
            fn from(r: wit::Risk) -> Self {
                match r {
                    wit::Risk::Low => loom_kernel::Risk::Low,
                    wit::Risk::Medium => loom_kernel::Risk::Medium,
                    wit::Risk::High => loom_kernel::Risk::High,
                }
            }
        }

        // ---- into the bundle ----

        impl From<&loom_kernel::TickToken> for wit::TickToken {
            fn from(t: &loom_kernel::TickToken) -> Self {
                wit::TickToken {
                    run: t.run,
                    seq: t.seq,
                    unix_ms: t.unix_ms,
                }
            }
        }

        impl From<loom_kernel::Decider> for wit::Decider {
            fn from(d: loom_kernel::Decider) -> Self {
                match d {
                    loom_kernel::Decider::Human => wit::Decider::Human,
                    loom_kernel::Decider::Agent => wit::Decider::Agent,
                    loom_kernel::Decider::Rule => wit::Decider::Rule,
                }
            }
        }

        impl From<loom_kernel::Task> for wit::Task {
            fn from(t: loom_kernel::Task) -> Self {
                wit::Task {
                    id: t.id,
                    title: t.title,
                }
            }
        }

        impl From<loom_kernel::Fact> for wit::Fact {
            fn from(f: loom_kernel::Fact) -> Self {
                wit::Fact {
                    kind: f.kind,
                    key: f.key,
                    value: f.value,
                    tick: f.tick,
                }
            }
        }

        impl From<loom_kernel::Gate> for wit::Gate {
            fn from(g: loom_kernel::Gate) -> Self {
                wit::Gate {
                    id: g.id,
                    name: g.name,
                    status: match g.status {
                        loom_kernel::GateStatus::Pending => wit::GateStatus::Pending,
                        loom_kernel::GateStatus::Approved => wit::GateStatus::Approved,
                        loom_kernel::GateStatus::Rejected => wit::GateStatus::Rejected,
                    },
                    decider: g.decider.into(),
                    opened_tick: g.opened_tick,
                    decided_by: g.decided_by,
                    note: g.note,
                }
            }
        }

        impl From<loom_kernel::LedgerRow> for wit::LedgerEntry {
            fn from(l: loom_kernel::LedgerRow) -> Self {
                wit::LedgerEntry {
                    key: l.key,
                    step: l.step,
                    kind: l.kind,
                    attempt: l.attempt,
                    status: l.status.as_str().to_owned(),
                    summary: l.summary,
                    tick: l.seq,
                }
            }
        }
    };
}

/// Defines the `view` functions of 0.1.0 (which every later version keeps) in `$inst`, a
/// `LinkerInstance<HostState>`, with the generated types of the version module it is
/// expanded in (`wit`).
macro_rules! link_view_0_1 {
    ($inst:expr) => {{
        use crate::host::view_call;
        let inst: &mut wasmtime::component::LinkerInstance<'_, crate::host::HostState> = $inst;
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
        // The project's value, else the default the manifest declares (a 0.1.0 manifest
        // declares none).
        inst.func_wrap("setting", |mut s, (key,): (String,)| {
            let value = view_call(&mut s, "setting", |v| v.setting(&key))?;
            Ok((value.or_else(|| s.data().default_of(&key)),))
        })?;
    }};
}

pub(crate) use {link_view_0_1, shared_conversions};
