"""What the incident runbook declares: phases, steps, the mitigation gate, rules, templates and
the project commands and settings it needs."""

from loom_bundle import Decider, GateDecl, Manifest, Param, Risk, RuleDecl, Setting, Step, Template

NAME, VERSION = "incident", "0.1.0"

# The project commands a mitigation plan may name, and the one that verifies the service.
MITIGATIONS = ("rollback", "restart", "scale-out")
HEALTH_CHECK = "health-check"

GATE = "approve-mitigation"
RESPONDER, SCRIBE, COMMANDER = "responder", "scribe", "incident-commander"

RULE_APPROVAL = "mitigation-needs-human-approval"
RULE_PLAN = "mitigation-follows-the-approved-plan"
RULE_ACCOUNTED = "every-command-is-accounted-for"
RULE_POSTMORTEM = "postmortem-names-every-command"

TRIAGE = """You are the first responder on a production incident.
Incident: {{task}}

Triage it. Reply with one JSON object and nothing else:
{"severity": "sev1" or "sev2" or "sev3", "service": "<the affected service>", "impact": "<who is affected and how, in one sentence>"}"""

DIAGNOSE = """Incident: {{task}}
Triage: {{triage}}
This is diagnosis round {{round}}. What happened in earlier rounds:
{{history}}

Find the most likely cause, and choose the mitigation commands to run, in order, from:
{{mitigations}}

Reply with one JSON object and nothing else:
{"cause": "<the likely cause, in one sentence>", "plan": ["<command>", "..."]}"""

POSTMORTEM = """Write the blameless postmortem of this incident, in Markdown.
Incident: {{task}}
Triage: {{triage}}
Cause: {{cause}}

Timeline of the commands that ran:
{{timeline}}

Name each of these commands, as written, in the postmortem:
{{commands}}"""


def manifest() -> Manifest:
    return (
        Manifest(NAME, VERSION)
        .phases("triage", "diagnose", "approve", "mitigate", "verify", "postmortem", "done", "failed")
        .step(Step("triage", "triage", "The responder sizes the incident: severity, service, impact.").agent(RESPONDER, "triage"))
        .step(Step("diagnose", "diagnose", "The responder names a likely cause and a mitigation plan.").agent(RESPONDER, "diagnose"))
        .step(Step("mitigate", "mitigate", "One command of the approved plan runs (not retry-safe)."))
        .step(Step("verify", "verify", f"The `{HEALTH_CHECK}` command checks the service is healthy again."))
        .step(Step("postmortem", "postmortem", "The scribe writes the postmortem.").agent(SCRIBE, "postmortem"))
        .gate(
            GateDecl(
                GATE,
                Decider.HUMAN,
                Risk.HIGH,
                "Run this mitigation plan against production? Approve with an edited list of "
                "`- command` lines to change it.",
                role=COMMANDER,
                editable=True,
            )
        )
        .rule(RuleDecl(RULE_APPROVAL, "No mitigation command runs, and the run is never in `mitigate`, unless a human approved the latest opening of the mitigation gate."))
        .rule(RuleDecl(RULE_PLAN, "Every mitigation command that ran is in the plan approved for its round."))
        .rule(RuleDecl(RULE_ACCOUNTED, "Every command that ran is recorded as a `command` fact, keyed by its ledger row."))
        .rule(RuleDecl(RULE_POSTMORTEM, "The postmortem names every command that ran."))
        .template(Template("triage", TRIAGE).param(Param.text("task", "the incident as reported")))
        .template(
            Template("diagnose", DIAGNOSE)
            .param(Param.text("task", "the incident as reported"))
            .param(Param.text("triage", "severity, service and impact"))
            .param(Param.integer("round", "1 for the first diagnosis"))
            .param(Param.text_list("history", "why earlier rounds ended"))
            .param(Param.text_list("mitigations", "the commands a plan may name"))
        )
        .template(
            Template("postmortem", POSTMORTEM)
            .param(Param.text("task", "the incident as reported"))
            .param(Param.text("triage", "severity, service and impact"))
            .param(Param.text("cause", "the cause of the round that resolved it"))
            .param(Param.text_list("timeline", "each command that ran, with its round and exit code"))
            .param(Param.text_list("commands", "the names of the commands that ran"))
        )
        .needs_command(*MITIGATIONS, HEALTH_CHECK)
        .setting(Setting.integer("max-rounds", 2, "diagnose → approve → mitigate → verify rounds before the run fails"))
    )
