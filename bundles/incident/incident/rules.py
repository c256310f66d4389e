"""The runbook's invariants, checked inside every tick's transaction before it commits.

They read only through the view, with the bounded reads (`latest_gate`, `ledger_of`) and the
`command` facts (a few per round, and rounds are bounded by `max-rounds`), never the whole
ledger or every gate opening. Rows a tick writes are found by the tick's seq,
so each rule looks at what the tick adds; what earlier ticks added was checked when they
committed (and `loom replay --invariants` re-checks every tick at its own commit point).
"""

import re
from typing import List

from loom_bundle import Decider, TickToken, Violation, view

from .manifest import GATE, RULE_ACCOUNTED, RULE_APPROVAL, RULE_PLAN, RULE_POSTMORTEM

COMMAND_STEPS = ("mitigate", "verify")


def check(tick: TickToken) -> List[Violation]:
    return approval(tick) + plan_followed(tick) + accounted(tick) + postmortem_names_commands()


def approval(tick: TickToken) -> List[Violation]:
    gate = view.latest_gate(GATE)
    if gate is not None and gate.approved and gate.decider is Decider.HUMAN:
        return []
    if gate is None:
        why = f"the mitigation gate {GATE} was never opened"
    elif not gate.approved:
        why = f"the latest opening of {GATE} (#{gate.id}) is {gate.status.value}"
    else:
        why = f"{GATE} (#{gate.id}) was approved by {gate.decider.value} `{gate.decided_by}`, not by a human"
    rows = [gate.row()] if gate is not None else []
    out = []
    if view.phase() == "mitigate":
        out.append(Violation(RULE_APPROVAL, f"the run entered mitigate, but {why}", rows))
    ran = [r for r in view.ledger_of("mitigate") if r.tick == tick.seq and r.status == "done"]
    if ran:
        out.append(Violation(RULE_APPROVAL, f"a mitigation command was recorded, but {why}", rows + [r.row() for r in ran]))
    return out


def plan_followed(tick: TickToken) -> List[Violation]:
    out = []
    for f in view.facts("command"):
        c = f.json()
        if f.tick != tick.seq or c["step"] != "mitigate":
            continue
        plan = view.fact("plan", str(c["round"]))
        commands = plan.json()["commands"] if plan is not None else []
        if c["name"] not in commands:
            rows = [f.row()] + ([plan.row()] if plan is not None else [])
            out.append(Violation(RULE_PLAN, f"`{c['name']}` ran in round {c['round']}, whose approved plan is {commands}", rows))
    return out


def accounted(tick: TickToken) -> List[Violation]:
    out = []
    for step in COMMAND_STEPS:
        for r in view.ledger_of(step):
            if r.tick == tick.seq and r.status == "done" and view.fact("command", r.key) is None:
                out.append(Violation(RULE_ACCOUNTED, f"{step} ran a command ({r.summary}) that no `command` fact records", [r.row()]))
    return out


def postmortem_names_commands() -> List[Violation]:
    report = view.fact("postmortem", "report")
    if report is None:
        return []
    text = report.json()["text"]
    missing = {}
    for f in view.facts("command"):
        name = f.json()["name"]
        if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) and name not in missing:
            missing[name] = f.row()
    if not missing:
        return []
    names = ", ".join(f"`{n}`" for n in missing)
    return [Violation(RULE_POSTMORTEM, f"the postmortem does not name {names}, which ran", [report.row(), *missing.values()])]
