//! Small constructors for the contract's records, so a manifest or a step reads as what it
//! declares rather than as struct literals.

use crate::{
    AgentCall, ApplyDiffCall, Arg, ArgValue, Change, CommandCall, Decider, Effect, EffectStep,
    Fact, FactRef, FactWrite, GateDecl, GateStatus, GateStep, Manifest, Needs, NextStep, Param,
    ParamType, Risk, RuleDecl, SettingDecl, StepDecl, Template, Violation,
};

/// Named arguments for a template (see [`Template`]).
pub mod arg {
    use crate::{Arg, ArgValue};

    /// A `text` argument.
    pub fn text(name: &str, value: impl Into<String>) -> Arg {
        Arg {
            name: name.into(),
            value: ArgValue::Text(value.into()),
        }
    }

    /// An `integer` argument.
    pub fn integer(name: &str, value: i64) -> Arg {
        Arg {
            name: name.into(),
            value: ArgValue::Integer(value),
        }
    }

    /// A `boolean` argument.
    pub fn boolean(name: &str, value: bool) -> Arg {
        Arg {
            name: name.into(),
            value: ArgValue::Boolean(value),
        }
    }

    /// A `text-list` argument; the host renders it as one `- item` line per element.
    pub fn text_list<I, S>(name: &str, items: I) -> Arg
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Arg {
            name: name.into(),
            value: ArgValue::TextList(items.into_iter().map(Into::into).collect()),
        }
    }
}

impl Manifest {
    /// An empty manifest; add phases, steps, gates, rules, templates and needs with the
    /// builders.
    pub fn new(name: &str, version: &str) -> Manifest {
        Manifest {
            name: name.into(),
            version: version.into(),
            phases: Vec::new(),
            steps: Vec::new(),
            gates: Vec::new(),
            rules: Vec::new(),
            templates: Vec::new(),
            needs: Needs {
                commands: Vec::new(),
                settings: Vec::new(),
            },
        }
    }

    /// Sets the phases; the first is where a run starts.
    pub fn phases(mut self, phases: &[&str]) -> Manifest {
        self.phases = phases.iter().map(|p| (*p).into()).collect();
        self
    }

    pub fn step(mut self, step: StepDecl) -> Manifest {
        self.steps.push(step);
        self
    }

    pub fn gate(mut self, gate: GateDecl) -> Manifest {
        self.gates.push(gate);
        self
    }

    pub fn rule(mut self, rule: RuleDecl) -> Manifest {
        self.rules.push(rule);
        self
    }

    pub fn template(mut self, template: Template) -> Manifest {
        self.templates.push(template);
        self
    }

    /// Declares a project command (`[commands]` in its config) the bundle runs with
    /// [`NextStep::command`]: loom checks the project configures it before a task opens, and
    /// refuses a command that is not declared.
    pub fn command(mut self, name: &str) -> Manifest {
        self.needs.commands.push(name.into());
        self
    }

    /// Declares a project setting (`[bundle]` in its config) the bundle reads with
    /// [`crate::view::setting`]: loom checks its type before a task opens, names a setting
    /// the project sets that is not declared, and hands over the default when it is unset.
    pub fn setting(mut self, setting: SettingDecl) -> Manifest {
        self.needs.settings.push(setting);
        self
    }
}

impl SettingDecl {
    fn of(key: &str, type_: ParamType, doc: &str) -> SettingDecl {
        SettingDecl {
            key: key.into(),
            type_,
            default: None,
            doc: doc.into(),
        }
    }

    /// A `text` setting, required unless given a [`SettingDecl::default`].
    pub fn text(key: &str, doc: &str) -> SettingDecl {
        SettingDecl::of(key, ParamType::Text, doc)
    }

    /// An `integer` setting.
    pub fn integer(key: &str, doc: &str) -> SettingDecl {
        SettingDecl::of(key, ParamType::Integer, doc)
    }

    /// A `boolean` setting.
    pub fn boolean(key: &str, doc: &str) -> SettingDecl {
        SettingDecl::of(key, ParamType::Boolean, doc)
    }

    /// A `text-list` setting (a list of strings).
    pub fn text_list(key: &str, doc: &str) -> SettingDecl {
        SettingDecl::of(key, ParamType::TextList, doc)
    }

    /// The value used when the project sets none, e.g. `.default(3)` or
    /// `.default(vec!["tests/**"])`; loom checks at load that it is of the declared type.
    pub fn default(mut self, value: impl Into<serde_json::Value>) -> SettingDecl {
        self.default = Some(value.into().to_string());
        self
    }
}

impl StepDecl {
    /// A step that is not an agent call (an apply-diff or a command).
    pub fn new(name: &str, phase: &str, doc: &str) -> StepDecl {
        StepDecl {
            name: name.into(),
            phase: phase.into(),
            role: None,
            template: None,
            doc: doc.into(),
        }
    }

    /// Marks the step as an agent call by `role` with `template`.
    pub fn agent(mut self, role: &str, template: &str) -> StepDecl {
        self.role = Some(role.into());
        self.template = Some(template.into());
        self
    }
}

impl GateDecl {
    pub fn new(name: &str, decider: Decider, risk: Risk, doc: &str) -> GateDecl {
        GateDecl {
            name: name.into(),
            decider,
            risk,
            role: None,
            editable: false,
            doc: doc.into(),
        }
    }

    /// The decider may approve with an edited version of what it was shown; the edited text
    /// arrives in [`crate::GateDecision::edited`].
    pub fn editable(mut self) -> GateDecl {
        self.editable = true;
        self
    }

    /// The agent role that decides the gate when the policy hands it to an agent.
    pub fn role(mut self, role: &str) -> GateDecl {
        self.role = Some(role.into());
        self
    }
}

impl RuleDecl {
    pub fn new(id: &str, doc: &str) -> RuleDecl {
        RuleDecl {
            id: id.into(),
            doc: doc.into(),
        }
    }
}

impl Template {
    /// A template without parameters yet; `body` uses `{{name}}` placeholders.
    pub fn new(id: &str, body: &str) -> Template {
        Template {
            id: id.into(),
            params: Vec::new(),
            body: body.into(),
        }
    }

    pub fn param(mut self, param: Param) -> Template {
        self.params.push(param);
        self
    }
}

impl Param {
    fn of(name: &str, type_: ParamType, doc: &str) -> Param {
        Param {
            name: name.into(),
            type_,
            required: true,
            doc: doc.into(),
        }
    }

    /// A required `text` parameter.
    pub fn text(name: &str, doc: &str) -> Param {
        Param::of(name, ParamType::Text, doc)
    }

    /// A required `integer` parameter.
    pub fn integer(name: &str, doc: &str) -> Param {
        Param::of(name, ParamType::Integer, doc)
    }

    /// A required `boolean` parameter.
    pub fn boolean(name: &str, doc: &str) -> Param {
        Param::of(name, ParamType::Boolean, doc)
    }

    /// A required `text-list` parameter (rendered as `- item` lines).
    pub fn text_list(name: &str, doc: &str) -> Param {
        Param::of(name, ParamType::TextList, doc)
    }

    /// Makes the parameter optional.
    pub fn optional(mut self) -> Param {
        self.required = false;
        self
    }
}

impl NextStep {
    /// Ask an agent in `role` with `template` rendered from `args`.
    pub fn agent(step: &str, role: &str, template: &str, args: Vec<Arg>) -> NextStep {
        NextStep::effect(
            step,
            Effect::Agent(AgentCall {
                role: role.into(),
                template: template.into(),
                args,
                edits_tree: false,
            }),
        )
    }

    /// Apply the unified diff carried by the result of ledger entry `source_key`.
    pub fn apply_diff(step: &str, source_key: &str) -> NextStep {
        NextStep::effect(
            step,
            Effect::ApplyDiff(ApplyDiffCall {
                source_key: source_key.into(),
            }),
        )
    }

    /// Run the command the project configured under `name`.
    pub fn command(step: &str, name: &str, retry_safe: bool) -> NextStep {
        NextStep::effect(
            step,
            Effect::Command(CommandCall {
                name: name.into(),
                retry_safe,
            }),
        )
    }

    /// Any effect, e.g. an [`AgentCall`] with `edits_tree` set.
    pub fn effect(step: &str, effect: Effect) -> NextStep {
        NextStep::Effect(EffectStep {
            step: step.into(),
            effect,
        })
    }

    /// Open gate `gate`, showing `summary` to whoever decides it.
    pub fn gate(gate: &str, summary: impl Into<String>, require_human: bool) -> NextStep {
        NextStep::Gate(GateStep {
            gate: gate.into(),
            summary: summary.into(),
            require_human,
        })
    }
}

impl Change {
    /// Move the run to `phase`.
    pub fn phase(phase: &str) -> Change {
        Change::Phase(phase.into())
    }

    /// Write fact `(kind, key)` with a JSON value.
    pub fn put_fact(kind: &str, key: &str, value: &serde_json::Value) -> Change {
        Change::PutFact(FactWrite {
            kind: kind.into(),
            key: key.into(),
            value: value.to_string(),
        })
    }

    /// Delete fact `(kind, key)`.
    pub fn drop_fact(kind: &str, key: &str) -> Change {
        Change::DropFact(FactRef {
            kind: kind.into(),
            key: key.into(),
        })
    }

    /// A free-text note recorded with the tick.
    pub fn note(text: impl Into<String>) -> Change {
        Change::Note(text.into())
    }
}

impl Fact {
    /// The value parsed as JSON; `None` if it is not valid JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.value).ok()
    }

    /// `"fact:kind/key"`, the row name a [`Violation`] uses.
    pub fn row(&self) -> String {
        format!("fact:{}/{}", self.kind, self.key)
    }
}

impl Violation {
    pub fn new(rule: &str, message: impl Into<String>, rows: Vec<String>) -> Violation {
        Violation {
            rule: rule.into(),
            message: message.into(),
            rows,
        }
    }
}

impl ArgValue {
    /// The text of a `text` argument.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ArgValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

macro_rules! names {
    ($ty:ident { $($variant:ident = $text:literal),+ }) => {
        impl $ty {
            /// The WIT name (`"human"`, `"approved"`, ...).
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(Decider { Human = "human", Agent = "agent", Rule = "rule" });
names!(Risk { Low = "low", Medium = "medium", High = "high" });
names!(GateStatus { Pending = "pending", Approved = "approved", Rejected = "rejected" });

#[cfg(test)]
mod tests {
    use super::arg;
    use crate::{
        ArgValue, Change, Decider, FactWrite, GateDecl, Manifest, Param, ParamType, Risk,
        SettingDecl, StepDecl, Template,
    };

    #[test]
    fn put_fact_writes_json_text() {
        let c = Change::put_fact("finding", "F1", &serde_json::json!({"status": "open"}));
        let want = FactWrite {
            kind: "finding".into(),
            key: "F1".into(),
            value: r#"{"status":"open"}"#.into(),
        };
        assert_eq!(c, Change::PutFact(want));
    }

    #[test]
    fn builders_fill_the_records() {
        let t = Template::new("fix", "{{findings}}")
            .param(Param::text_list("findings", "open ones").optional());
        assert_eq!(t.params[0].type_, ParamType::TextList);
        assert!(!t.params[0].required);
        let m = Manifest::new("x", "1.0.0")
            .phases(&["a", "b"])
            .step(StepDecl::new("s", "a", "doc").agent("role", "fix"))
            .template(t);
        assert_eq!(m.phases, ["a", "b"]);
        assert_eq!(m.steps[0].role.as_deref(), Some("role"));
        assert_eq!(m.steps[0].template.as_deref(), Some("fix"));
        let a = arg::text_list("findings", ["F1", "F2"]);
        assert_eq!(a.value, ArgValue::TextList(vec!["F1".into(), "F2".into()]));
        assert_eq!(arg::text("task", "t").value.as_text(), Some("t"));
    }

    #[test]
    fn needs_and_editable_gates_are_declared_by_builders() {
        let m = Manifest::new("x", "1.0.0")
            .command("test")
            .setting(SettingDecl::integer("rounds", "how many").default(3))
            .setting(SettingDecl::text_list("globs", "which").default(vec!["tests/**"]))
            .setting(SettingDecl::text("branch", "required"))
            .gate(GateDecl::new("plan", Decider::Human, Risk::Low, "").editable());
        assert_eq!(m.needs.commands, ["test"]);
        let defaults: Vec<Option<&str>> = m
            .needs
            .settings
            .iter()
            .map(|s| s.default.as_deref())
            .collect();
        assert_eq!(defaults, [Some("3"), Some(r#"["tests/**"]"#), None]);
        assert_eq!(m.needs.settings[1].type_, ParamType::TextList);
        assert!(m.gates[0].editable);
        assert!(!GateDecl::new("g", Decider::Human, Risk::Low, "").editable);
    }
}
