//! `loom:bundle@0.1.0` (`wit/0.1.0/bundle.wit`, frozen): its bindings, its `view`, and its
//! values converted up into the internal model. A 0.1.0 bundle declares no needs and no
//! editable gate, cannot fail `next` or `check` other than by trapping, and its `apply`
//! error is always a refusal.

use super::{Applied, Called};
use crate::host::HostState;
use crate::types::{Manifest, NextStep, Outcome};
use loom_kernel::{TickToken, Violation};
use wasmtime::component::{Instance, InstancePre, Linker};
use wasmtime::Store;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "loom:bundle/bundle",
    });
}

use bindings::exports::loom::bundle::{logic, rules};
use bindings::loom::bundle::types as wit;

/// The name the host defines `view` under; wasmtime matches imports of any `0.1.x` to it.
pub(crate) const VIEW: &str = "loom:bundle/view@0.1.0";

pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    super::link_view_0_1!(&mut linker.instance(VIEW)?);
    Ok(())
}

pub(crate) struct Logic(logic::GuestIndices);

impl Logic {
    pub(crate) fn new(pre: &InstancePre<HostState>) -> wasmtime::Result<Logic> {
        Ok(Logic(logic::GuestIndices::new(pre)?))
    }

    pub(crate) fn manifest(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> Called<Manifest> {
        let m = self.0.load(&mut *store, instance)?.call_manifest(store)?;
        Ok(Ok(m.into()))
    }

    pub(crate) fn next(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        token: &TickToken,
    ) -> Called<NextStep> {
        let next = self
            .0
            .load(&mut *store, instance)?
            .call_next(store, token.into())?;
        Ok(Ok(next.into()))
    }

    pub(crate) fn apply(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        token: &TickToken,
        step: &str,
        outcome: &Outcome,
    ) -> Called<Applied> {
        let outcome = wit::Outcome::from(outcome);
        let result =
            self.0
                .load(&mut *store, instance)?
                .call_apply(store, token.into(), step, &outcome)?;
        Ok(Ok(result.map(|changes| {
            changes.into_iter().map(Into::into).collect()
        })))
    }
}

pub(crate) struct Rules(rules::GuestIndices);

impl Rules {
    pub(crate) fn new(pre: &InstancePre<HostState>) -> wasmtime::Result<Rules> {
        Ok(Rules(rules::GuestIndices::new(pre)?))
    }

    pub(crate) fn check(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        token: &TickToken,
    ) -> Called<Vec<Violation>> {
        let found = self
            .0
            .load(&mut *store, instance)?
            .call_check(store, token.into())?;
        Ok(Ok(found.into_iter().map(Violation::from).collect()))
    }
}

super::shared_conversions!();

impl From<wit::Manifest> for Manifest {
    fn from(m: wit::Manifest) -> Self {
        Manifest {
            name: m.name,
            version: m.version,
            phases: m.phases,
            steps: m.steps.into_iter().map(Into::into).collect(),
            gates: m.gates.into_iter().map(Into::into).collect(),
            rules: m.rules.into_iter().map(Into::into).collect(),
            templates: m.templates.into_iter().map(Into::into).collect(),
            needs: None,
        }
    }
}

impl From<wit::GateDecl> for crate::types::GateDecl {
    fn from(g: wit::GateDecl) -> Self {
        crate::types::GateDecl {
            name: g.name,
            decider: g.decider.into(),
            risk: g.risk.into(),
            role: g.role,
            editable: false,
            doc: g.doc,
        }
    }
}

/// An outcome as 0.1.0 knows it: a gate decision without `edited` (no 0.1.0 gate is
/// editable, so there is never an edit to drop).
impl From<&Outcome> for wit::Outcome {
    fn from(o: &Outcome) -> Self {
        match o.clone() {
            Outcome::Agent(a) => wit::Outcome::Agent(wit::AgentReply {
                text: a.text,
                touched: a.touched,
                diff_hash: a.diff_hash,
            }),
            Outcome::Diff(d) => wit::Outcome::Diff(wit::DiffResult {
                applied: d.applied,
                diff_hash: d.diff_hash,
                touched: d.touched,
                error: d.error,
            }),
            Outcome::Command(c) => wit::Outcome::Command(wit::CommandResult {
                exit_code: c.exit_code,
                output_tail: c.output_tail,
            }),
            Outcome::Gate(g) => wit::Outcome::Gate(wit::GateDecision {
                gate: g.gate,
                approved: g.approved,
                decider: g.decider.into(),
                by: g.by,
                note: g.note,
            }),
        }
    }
}
