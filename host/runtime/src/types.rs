//! Plain Rust mirrors of the `loom:bundle` types the engine handles: one internal model for
//! every contract version the host binds.
//!
//! The engine codes against these, never against generated bindings, so a new WIT version
//! changes this crate's conversions (`wit/`) and not the engine. What a newer version adds
//! has a neutral value for an older one (no `needs`, a gate that is not editable). They are also
//! what the ledger stores: outcomes and next steps are serialised as JSON (serde's external
//! tagging, kebab-case, e.g. `{"agent":{"text":"…","touched":[],"diff_hash":null}}`) and must
//! round-trip exactly, so field names here are part of the stored format.

use loom_kernel::{Decider, Risk};
use serde::{Deserialize, Serialize};

/// What a bundle declares about itself, read once when it is loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub phases: Vec<String>,
    pub steps: Vec<StepDecl>,
    pub gates: Vec<GateDecl>,
    pub rules: Vec<RuleDecl>,
    pub templates: Vec<Template>,
    /// What the bundle needs from the project (0.2.0 on); `None` for a bundle of a contract
    /// that cannot declare it, whose needs are then not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Needs>,
}

/// The commands a bundle runs and the settings it reads, checked before a task opens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Needs {
    /// Names of the project commands (`[commands]`) it may run.
    pub commands: Vec<String>,
    pub settings: Vec<SettingDecl>,
}

/// A project setting (`[bundle]`) the bundle reads through `view.setting`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingDecl {
    pub key: String,
    pub ty: ParamType,
    /// JSON text of the value used when the project sets none; `None` makes it required.
    pub default: Option<String>,
    pub doc: String,
}

impl Manifest {
    /// The declared default of setting `key`, if the manifest declares one.
    pub fn setting_default(&self, key: &str) -> Option<&str> {
        self.needs
            .as_ref()?
            .settings
            .iter()
            .find(|s| s.key == key)?
            .default
            .as_deref()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepDecl {
    pub name: String,
    pub phase: String,
    pub role: Option<String>,
    pub template: Option<String>,
    pub doc: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateDecl {
    pub name: String,
    pub decider: Decider,
    pub risk: Risk,
    /// The agent role that decides it when policy hands it to an agent.
    pub role: Option<String>,
    /// The decider may approve with an edited version of what it was shown (0.2.0 on).
    #[serde(default)]
    pub editable: bool,
    pub doc: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleDecl {
    pub id: String,
    pub doc: String,
}

/// A prompt template; `body` uses `{{name}}` placeholders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub params: Vec<Param>,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub required: bool,
    pub doc: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamType {
    Text,
    Integer,
    Boolean,
    TextList,
}

impl ParamType {
    /// Whether `value` (a setting's value as JSON) is of this type.
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (self, value) {
            (ParamType::Text, J::String(_)) | (ParamType::Boolean, J::Bool(_)) => true,
            (ParamType::Integer, J::Number(n)) => n.is_i64(),
            (ParamType::TextList, J::Array(items)) => items.iter().all(J::is_string),
            _ => false,
        }
    }

    /// The type as a phrase: "a text", "an integer", …
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::Text => "a text",
            ParamType::Integer => "an integer",
            ParamType::Boolean => "a boolean",
            ParamType::TextList => "a list of texts",
        }
    }

    /// A value of the type, as JSON text, for messages.
    pub fn example(self) -> &'static str {
        match self {
            ParamType::Text => r#""main""#,
            ParamType::Integer => "3",
            ParamType::Boolean => "true",
            ParamType::TextList => r#"["tests/**"]"#,
        }
    }

    /// The WIT name (`text`, `integer`, `boolean`, `text-list`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Text => "text",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
            ParamType::TextList => "text-list",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArgValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    TextList(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    pub name: String,
    pub value: ArgValue,
}

/// Ask an agent (through the role's provider chain) with a rendered template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentCall {
    pub role: String,
    pub template: String,
    pub args: Vec<Arg>,
    /// The agent may edit the working tree itself; the host records the resulting diff.
    pub edits_tree: bool,
}

/// Apply a unified diff carried in the text result of an earlier ledger entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyDiffCall {
    pub source_key: String,
}

/// Run a command the project configured under this name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandCall {
    pub name: String,
    /// True when running it twice is harmless; otherwise an uncertain run goes to a human.
    pub retry_safe: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    Agent(AgentCall),
    ApplyDiff(ApplyDiffCall),
    Command(CommandCall),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectStep {
    pub step: String,
    pub effect: Effect,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateStep {
    pub gate: String,
    /// What the decider is shown.
    pub summary: String,
    /// Force a human decision whatever the policy says.
    pub require_human: bool,
}

/// What the bundle wants to happen next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextStep {
    Effect(EffectStep),
    Gate(GateStep),
    Finish(String),
    Fail(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    pub text: String,
    /// Files the agent changed in the tree itself (`edits_tree`).
    pub touched: Vec<String>,
    /// Blob hash of the tree diff it made, if any.
    pub diff_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffResult {
    pub applied: bool,
    pub diff_hash: String,
    pub touched: Vec<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub exit_code: i32,
    pub output_tail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub gate: String,
    pub approved: bool,
    pub decider: Decider,
    pub by: String,
    pub note: Option<String>,
    /// For an editable gate approved with edits: the edited text that replaces the summary.
    /// Absent from what runs of 0.1.0 bundles stored, and never handed to such a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<String>,
}

/// What an effect or a gate came to, handed back to the bundle's `apply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Agent(AgentReply),
    Diff(DiffResult),
    Command(CommandResult),
    Gate(GateDecision),
}

/// A state change the bundle asks for; the engine writes it through the open tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Phase(String),
    PutFact {
        kind: String,
        key: String,
        value: String,
    },
    DropFact {
        kind: String,
        key: String,
    },
    Note(String),
}

/// A failure of the bundle's own code (an exception, a panic), as the bundle reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// The traceback or backtrace, where the bundle's language has one.
    pub traceback: Option<String>,
}

/// Why `apply` produced no changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The outcome is not acceptable to the bundle (a value it returned, not a fault).
    Refused(String),
    /// The bundle's own code failed.
    Failed(Failure),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outcomes are stored as JSON in the ledger: the stored form is fixed and round-trips.
    #[test]
    fn outcomes_round_trip_through_json() -> Result<(), serde_json::Error> {
        let outcomes = [
            Outcome::Agent(AgentReply {
                text: "done".into(),
                touched: vec!["src/a.rs".into()],
                diff_hash: Some("ab12".into()),
            }),
            Outcome::Diff(DiffResult {
                applied: false,
                diff_hash: "cd34".into(),
                touched: vec![],
                error: Some("hunk 2 failed".into()),
            }),
            Outcome::Command(CommandResult {
                exit_code: -1,
                output_tail: "ok".into(),
            }),
            Outcome::Gate(GateDecision {
                gate: "finish".into(),
                approved: true,
                decider: Decider::Human,
                by: "ana".into(),
                note: None,
                edited: None,
            }),
        ];
        for outcome in outcomes {
            let json = serde_json::to_string(&outcome)?;
            assert_eq!(serde_json::from_str::<Outcome>(&json)?, outcome, "{json}");
        }
        let json = serde_json::to_string(&Outcome::Command(CommandResult {
            exit_code: 0,
            output_tail: String::new(),
        }))?;
        assert_eq!(json, r#"{"command":{"exit_code":0,"output_tail":""}}"#);
        Ok(())
    }

    /// What 0.2.0 added leaves the stored form of everything else as it was: a decision
    /// without edits and a manifest without needs serialise as before, and old records parse.
    #[test]
    fn additions_keep_the_stored_form() -> Result<(), serde_json::Error> {
        let old = r#"{"gate":{"gate":"g","approved":true,"decider":"human","by":"a","note":null}}"#;
        let parsed: Outcome = serde_json::from_str(old)?;
        assert!(matches!(&parsed, Outcome::Gate(d) if d.edited.is_none()));
        assert_eq!(serde_json::to_string(&parsed)?, old);
        let decl: GateDecl = serde_json::from_str(
            r#"{"name":"g","decider":"human","risk":"low","role":null,"doc":""}"#,
        )?;
        assert!(!decl.editable);
        Ok(())
    }

    #[test]
    fn steps_and_changes_round_trip_through_json() -> Result<(), serde_json::Error> {
        let step = NextStep::Effect(EffectStep {
            step: "work".into(),
            effect: Effect::Agent(AgentCall {
                role: "worker".into(),
                template: "work".into(),
                args: vec![Arg {
                    name: "files".into(),
                    value: ArgValue::TextList(vec!["a".into()]),
                }],
                edits_tree: true,
            }),
        });
        let json = serde_json::to_string(&step)?;
        assert_eq!(serde_json::from_str::<NextStep>(&json)?, step);
        for change in [
            Change::Phase("done".into()),
            Change::PutFact {
                kind: "k".into(),
                key: "x".into(),
                value: "1".into(),
            },
            Change::DropFact {
                kind: "k".into(),
                key: "x".into(),
            },
            Change::Note("n".into()),
        ] {
            let json = serde_json::to_string(&change)?;
            assert_eq!(serde_json::from_str::<Change>(&json)?, change);
        }
        Ok(())
    }
}
