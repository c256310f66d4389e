//! Conversions between the generated WIT types and the plain types the engine and kernel use.
//!
//! Only the directions that cross the boundary exist: declarations, next steps, changes and
//! violations come out of a bundle; tick tokens, outcomes and view rows go in. Every
//! conversion is total (the WIT enums and variants map one to one), so none can fail.

use crate::bindings::loom::bundle::types as wit;
use crate::types::*;
use loom_kernel::{Decider, GateStatus, Risk};

// ---- out of the bundle ----

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
        }
    }
}

impl From<wit::StepDecl> for StepDecl {
    fn from(s: wit::StepDecl) -> Self {
        StepDecl {
            name: s.name,
            phase: s.phase,
            role: s.role,
            template: s.template,
            doc: s.doc,
        }
    }
}

impl From<wit::GateDecl> for GateDecl {
    fn from(g: wit::GateDecl) -> Self {
        GateDecl {
            name: g.name,
            decider: g.decider.into(),
            risk: g.risk.into(),
            role: g.role,
            doc: g.doc,
        }
    }
}

impl From<wit::RuleDecl> for RuleDecl {
    fn from(r: wit::RuleDecl) -> Self {
        RuleDecl {
            id: r.id,
            doc: r.doc,
        }
    }
}

impl From<wit::Template> for Template {
    fn from(t: wit::Template) -> Self {
        Template {
            id: t.id,
            params: t.params.into_iter().map(Into::into).collect(),
            body: t.body,
        }
    }
}

impl From<wit::Param> for Param {
    fn from(p: wit::Param) -> Self {
        Param {
            name: p.name,
            ty: match p.type_ {
                wit::ParamType::Text => ParamType::Text,
                wit::ParamType::Integer => ParamType::Integer,
                wit::ParamType::Boolean => ParamType::Boolean,
                wit::ParamType::TextList => ParamType::TextList,
            },
            required: p.required,
            doc: p.doc,
        }
    }
}

impl From<wit::NextStep> for NextStep {
    fn from(n: wit::NextStep) -> Self {
        match n {
            wit::NextStep::Effect(e) => NextStep::Effect(EffectStep {
                step: e.step,
                effect: e.effect.into(),
            }),
            wit::NextStep::Gate(g) => NextStep::Gate(GateStep {
                gate: g.gate,
                summary: g.summary,
                require_human: g.require_human,
            }),
            wit::NextStep::Finish(s) => NextStep::Finish(s),
            wit::NextStep::Fail(s) => NextStep::Fail(s),
        }
    }
}

impl From<wit::Effect> for Effect {
    fn from(e: wit::Effect) -> Self {
        match e {
            wit::Effect::Agent(a) => Effect::Agent(AgentCall {
                role: a.role,
                template: a.template,
                args: a.args.into_iter().map(Into::into).collect(),
                edits_tree: a.edits_tree,
            }),
            wit::Effect::ApplyDiff(d) => Effect::ApplyDiff(ApplyDiffCall {
                source_key: d.source_key,
            }),
            wit::Effect::Command(c) => Effect::Command(CommandCall {
                name: c.name,
                retry_safe: c.retry_safe,
            }),
        }
    }
}

impl From<wit::Arg> for Arg {
    fn from(a: wit::Arg) -> Self {
        Arg {
            name: a.name,
            value: match a.value {
                wit::ArgValue::Text(s) => ArgValue::Text(s),
                wit::ArgValue::Integer(i) => ArgValue::Integer(i),
                wit::ArgValue::Boolean(b) => ArgValue::Boolean(b),
                wit::ArgValue::TextList(l) => ArgValue::TextList(l),
            },
        }
    }
}

impl From<wit::Change> for Change {
    fn from(c: wit::Change) -> Self {
        match c {
            wit::Change::Phase(p) => Change::Phase(p),
            wit::Change::PutFact(f) => Change::PutFact {
                kind: f.kind,
                key: f.key,
                value: f.value,
            },
            wit::Change::DropFact(f) => Change::DropFact {
                kind: f.kind,
                key: f.key,
            },
            wit::Change::Note(n) => Change::Note(n),
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

impl From<wit::Decider> for Decider {
    fn from(d: wit::Decider) -> Self {
        match d {
            wit::Decider::Human => Decider::Human,
            wit::Decider::Agent => Decider::Agent,
            wit::Decider::Rule => Decider::Rule,
        }
    }
}

impl From<wit::Risk> for Risk {
    fn from(r: wit::Risk) -> Self {
        match r {
            wit::Risk::Low => Risk::Low,
            wit::Risk::Medium => Risk::Medium,
            wit::Risk::High => Risk::High,
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

impl From<Decider> for wit::Decider {
    fn from(d: Decider) -> Self {
        match d {
            Decider::Human => wit::Decider::Human,
            Decider::Agent => wit::Decider::Agent,
            Decider::Rule => wit::Decider::Rule,
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
                GateStatus::Pending => wit::GateStatus::Pending,
                GateStatus::Approved => wit::GateStatus::Approved,
                GateStatus::Rejected => wit::GateStatus::Rejected,
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
