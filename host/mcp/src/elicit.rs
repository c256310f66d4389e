//! A human gate decided by the person at the MCP client, through the client's elicitation
//! form (opt-in: `[mcp] human_gates = "elicit"`).
//!
//! What this trusts, and what it does not: loom cannot see who answers a form. It trusts the
//! MCP client to show the form to its person and to keep the model from answering it, as
//! Claude Code does with its own dialog; that is why it is off unless the project turns it
//! on. It trusts nothing the agent says: the agent's `approved` and `note` are ignored, the
//! form asks the person afresh, showing exactly the gate's text, and the decision is bound to
//! the hash of that text, so a gate that reopened with other content while the form was open
//! is refused with nothing recorded. A client that did not declare the capability gets the
//! plain refusal.

use loom_engine::{Decision, Origin};
use loom_kernel::Gate;
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema, EnumSchema};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::Value;

/// The transport an elicited decision is recorded with.
pub const TRANSPORT: &str = "mcp-elicitation";

/// Whether the client at `ctx` declared the form kind of elicitation.
pub fn supported(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.peer
        .supported_elicitation_modes()
        .contains(&rmcp::service::ElicitationMode::Form)
}

/// What came of asking.
pub enum Asked {
    /// The person decided: record this.
    Decided(Decision),
    /// The person declined or cancelled the form: nothing to record.
    NotDecided(&'static str),
}

/// The form's text: which gate, of which project, and exactly what its decider is shown.
fn message(gate: &Gate, project: &str) -> String {
    format!(
        "loom asks you, the person at this client, to decide gate \"{}\" of run #{} in {}. \
         An agent asked for this; your answer is recorded as yours. This is what the gate \
         shows:\n\n{}",
        gate.name, gate.run_id, project, gate.summary
    )
}

fn schema() -> Result<ElicitationSchema, String> {
    let decision = EnumSchema::builder(vec!["approve".into(), "reject".into()])
        .enum_titles(vec!["Approve".into(), "Reject".into()])?
        .build();
    ElicitationSchema::builder()
        .required_enum_schema("decision", decision)
        .optional_string("reason")
        .description("approve, or reject with a reason the agents will read")
        .build()
        .map_err(str::to_owned)
}

/// Asks the person at the client to decide `gate`; `who` names the client.
pub async fn ask(
    ctx: &RequestContext<RoleServer>,
    gate: &Gate,
    project: &str,
    who: &str,
) -> Result<Asked, String> {
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message(gate, project),
        requested_schema: schema()?,
    };
    let answer = ctx
        .peer
        .create_elicitation(params)
        .await
        .map_err(|e| format!("the client did not answer the form: {e}"))?;
    match answer.action {
        ElicitationAction::Accept => {}
        ElicitationAction::Decline => return Ok(Asked::NotDecided("declined")),
        ElicitationAction::Cancel => return Ok(Asked::NotDecided("cancelled")),
        // An action this loom does not know is no decision.
        _ => return Ok(Asked::NotDecided("did not answer")),
    }
    let content = answer.content.unwrap_or(Value::Null);
    let approved = match content.get("decision").and_then(Value::as_str) {
        Some("approve") => true,
        Some("reject") => false,
        other => {
            return Err(format!(
                "the form came back without a decision (decision = {other:?}); nothing was \
                 recorded"
            ))
        }
    };
    let reason = content
        .get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let mut d = Decision::new(
        &gate.id.to_string(),
        approved,
        reason,
        Origin::human(who, TRANSPORT),
    );
    // Bound to the text the form showed, not to whatever the gate shows when it lands.
    d.shown_hash = Some(gate.shown_hash.clone());
    Ok(Asked::Decided(d))
}
