//! `loom:bundle@0.2.0` (`wit/0.2.0/bundle.wit`): its bindings, its `view` (0.1.0's plus the
//! bounded reads) and `log`, and its values converted into the internal model: needs,
//! editable gates, the edited text of a decision, and typed failures.

use super::{Applied, Called};
use crate::host::{self, HostState};
use crate::types::{self as t, ApplyError, Failure, Manifest, NextStep, Outcome};
use loom_kernel::{TickToken, Violation};
use wasmtime::component::{Instance, InstancePre, Linker};
use wasmtime::Store;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "loom:bundle/bundle",
    });
}

use bindings::exports::loom::bundle::{logic, rules};
use bindings::loom::bundle::log::Level;
use bindings::loom::bundle::types as wit;

/// The names the host defines its imports under; wasmtime matches any `0.2.x` to them.
pub(crate) const VIEW: &str = "loom:bundle/view@0.2.0";
pub(crate) const LOG: &str = "loom:bundle/log@0.2.0";

pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut view = linker.instance(VIEW)?;
    super::link_view_0_1!(&mut view);
    use crate::host::view_call;
    view.func_wrap("latest-gate", |mut s, (name,): (String,)| {
        let gate = view_call(&mut s, "latest-gate", |v| v.latest_gate(&name))?;
        Ok((gate.map(wit::Gate::from),))
    })?;
    view.func_wrap("ledger-of", |mut s, (step,): (String,)| {
        let rows = view_call(&mut s, "ledger-of", |v| v.ledger_of(&step))?;
        Ok((rows
            .into_iter()
            .map(wit::LedgerEntry::from)
            .collect::<Vec<_>>(),))
    })?;
    view.func_wrap("ledger-last", |mut s, (limit,): (u32,)| {
        let rows = view_call(&mut s, "ledger-last", |v| v.ledger_last(limit))?;
        Ok((rows
            .into_iter()
            .map(wit::LedgerEntry::from)
            .collect::<Vec<_>>(),))
    })?;
    let mut log = linker.instance(LOG)?;
    log.func_wrap(
        "write",
        |mut s, (level, message): (Level, String)| -> wasmtime::Result<()> {
            let level = match level {
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            };
            host::log_write(&mut s, level, &message)
        },
    )?;
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
        Ok(m.map(Into::into).map_err(Into::into))
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
        Ok(next.map(Into::into).map_err(Into::into))
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
        Ok(match result.map_err(ApplyError::from) {
            Ok(changes) => Ok(Ok(changes.into_iter().map(Into::into).collect())),
            Err(ApplyError::Refused(why)) => Ok(Err(why)),
            Err(ApplyError::Failed(failure)) => Err(failure),
        })
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
        Ok(found
            .map(|v| v.into_iter().map(Violation::from).collect())
            .map_err(Into::into))
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
            needs: Some(t::Needs {
                commands: m.needs.commands,
                settings: m.needs.settings.into_iter().map(Into::into).collect(),
            }),
        }
    }
}

impl From<wit::SettingDecl> for t::SettingDecl {
    fn from(s: wit::SettingDecl) -> Self {
        t::SettingDecl {
            key: s.key,
            ty: s.type_.into(),
            default: s.default,
            doc: s.doc,
        }
    }
}

impl From<wit::GateDecl> for t::GateDecl {
    fn from(g: wit::GateDecl) -> Self {
        t::GateDecl {
            name: g.name,
            decider: g.decider.into(),
            risk: g.risk.into(),
            role: g.role,
            editable: g.editable,
            doc: g.doc,
        }
    }
}

impl From<wit::Failure> for Failure {
    fn from(f: wit::Failure) -> Self {
        Failure {
            message: f.message,
            traceback: f.traceback,
        }
    }
}

impl From<wit::ApplyError> for ApplyError {
    fn from(e: wit::ApplyError) -> Self {
        match e {
            wit::ApplyError::Refused(why) => ApplyError::Refused(why),
            wit::ApplyError::Failed(f) => ApplyError::Failed(f.into()),
        }
    }
}

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
                edited: g.edited,
            }),
        }
    }
}
