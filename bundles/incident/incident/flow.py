"""The runbook's step logic: what comes next in each phase, and what each outcome changes.

Facts it keeps (values are JSON):
- `triage/summary`  {"severity", "service", "impact"}
- `round/current`   {"n": round, "ran": mitigation commands of the round run so far}
- `diagnosis/<n>`   {"cause", "plan": [command, ...]} as the responder proposed it
- `plan/<n>`        {"commands": [...], "gate": id, "edited": bool} as a human approved it
- `command/<ledger key>`  {"name", "step", "round", "exit_code", "tick"} per command that ran
- `history/<nnnn>`  {"round", "text"}: why a round ended without mitigating the incident
- `postmortem/report` {"text"}; `outcome/failed` {"reason"}
"""

from typing import List

from loom_bundle import (
    AgentReply,
    Change,
    CommandResult,
    GateDecision,
    NextStep,
    log,
    refuse,
    replies,
    view,
)

from .manifest import GATE, HEALTH_CHECK, MITIGATIONS, RESPONDER, SCRIBE


def round_state() -> dict:
    return view.fact_json("round", "current", {"n": 1, "ran": 0})


def triage_text() -> str:
    t = view.fact_json("triage", "summary")
    return f"{t['severity']} on {t['service']}: {t['impact']}"


def history() -> List[str]:
    # Keyed by the zero-padded round, so the view's order by key is the order of rounds.
    return [f"round {h['round']}: {h['text']}" for h in (f.json() for f in view.facts("history"))]


def commands_run() -> List[dict]:
    """Every command that ran, in the order it ran (its round, then its ledger key's number)."""
    rows = [dict(f.json(), key=f.key) for f in view.facts("command")]
    return sorted(rows, key=lambda c: (c["tick"], c["key"]))


def plan_summary(n: int, max_rounds: int) -> str:
    d = view.fact_json("diagnosis", str(n))
    lines = [
        f"Incident: {view.task().title}",
        f"Triage: {triage_text()}",
        f"Cause (round {n} of {max_rounds}): {d['cause']}",
        "",
        "Mitigation plan, run in this order against production:",
        *[f"- {c}" for c in d["plan"]],
        "",
        "Approve to run it. To change it, approve with an edited list of `- command` lines "
        f"(from: {', '.join(MITIGATIONS)}).",
    ]
    return "\n".join(lines)


def next_step(max_rounds: int) -> NextStep:
    phase = view.phase()
    r = round_state()
    if phase == "triage":
        return NextStep.agent("triage", RESPONDER, "triage", {"task": view.task().title})
    if phase == "diagnose":
        args = {
            "task": view.task().title,
            "triage": triage_text(),
            "round": r["n"],
            "history": history() or ["none: this is the first round"],
            "mitigations": list(MITIGATIONS),
        }
        return NextStep.agent("diagnose", RESPONDER, "diagnose", args)
    if phase == "approve":
        return NextStep.gate(GATE, plan_summary(r["n"], max_rounds))
    if phase == "mitigate":
        plan = view.fact_json("plan", str(r["n"]))["commands"]
        # Running a mitigation twice is not harmless: an interrupted one is held for a human.
        return NextStep.command("mitigate", plan[r["ran"]], retry_safe=False)
    if phase == "verify":
        return NextStep.command("verify", HEALTH_CHECK, retry_safe=True)
    if phase == "postmortem":
        ran = commands_run()
        last = view.fact_json("diagnosis", str(r["n"]))
        args = {
            "task": view.task().title,
            "triage": triage_text(),
            "cause": last["cause"],
            "timeline": [f"round {c['round']}: `{c['name']}` exited {c['exit_code']}" for c in ran],
            "commands": sorted({c["name"] for c in ran}),
        }
        return NextStep.agent("postmortem", SCRIBE, "postmortem", args)
    if phase == "done":
        names = ", ".join(c["name"] for c in commands_run())
        return NextStep.finish(f"incident mitigated in round {r['n']} ({names}); postmortem recorded")
    if phase == "failed":
        return NextStep.fail(view.fact_json("outcome", "failed")["reason"])
    return NextStep.fail(f"unknown phase {phase!r}")


def apply_outcome(tick, step: str, outcome, max_rounds: int) -> list:
    r = round_state()
    if step == "triage" and isinstance(outcome, AgentReply):
        t = replies.json_object(outcome.text, "the triage reply")
        severity = replies.field(t, "severity", str, "the triage reply")
        if severity not in ("sev1", "sev2", "sev3"):
            refuse(f"the triage reply's severity is {severity!r}; it is one of sev1, sev2, sev3")
        summary = {k: replies.field(t, k, str, "the triage reply") for k in ("service", "impact")}
        return [
            Change.put_fact("triage", "summary", dict(summary, severity=severity)),
            Change.put_fact("round", "current", {"n": 1, "ran": 0}),
            Change.phase("diagnose"),
        ]
    if step == "diagnose" and isinstance(outcome, AgentReply):
        d = replies.json_object(outcome.text, "the diagnosis")
        cause = replies.field(d, "cause", str, "the diagnosis")
        plan = checked_plan(replies.field(d, "plan", list, "the diagnosis"), "the diagnosis's plan")
        return [Change.put_fact("diagnosis", str(r["n"]), {"cause": cause, "plan": plan}), Change.phase("approve")]
    if step == GATE and isinstance(outcome, GateDecision):
        return decided(outcome, r, max_rounds)
    if step == "mitigate" and isinstance(outcome, CommandResult):
        plan = view.fact_json("plan", str(r["n"]))["commands"]
        name = plan[r["ran"]]
        changes = [record_command(tick, "mitigate", name, r["n"], outcome)]
        if outcome.exit_code != 0:
            why = f"mitigation `{name}` failed (exit {outcome.exit_code}): {tail(outcome.output_tail)}"
            return changes + end_round(r, why, max_rounds)
        ran = r["ran"] + 1
        changes.append(Change.put_fact("round", "current", {"n": r["n"], "ran": ran}))
        if ran == len(plan):
            changes.append(Change.phase("verify"))
        return changes
    if step == "verify" and isinstance(outcome, CommandResult):
        changes = [record_command(tick, "verify", HEALTH_CHECK, r["n"], outcome)]
        if outcome.exit_code == 0:
            return changes + [Change.phase("postmortem")]
        why = f"`{HEALTH_CHECK}` still failed after the mitigation (exit {outcome.exit_code}): {tail(outcome.output_tail)}"
        return changes + end_round(r, why, max_rounds)
    if step == "postmortem" and isinstance(outcome, AgentReply):
        text = outcome.text.strip()
        if not text:
            refuse("the postmortem is empty")
        return [Change.put_fact("postmortem", "report", {"text": text}), Change.phase("done")]
    refuse(f"step {step!r} expects no {type(outcome).__name__}")


def decided(d: GateDecision, r: dict, max_rounds: int) -> list:
    gate = view.latest_gate(GATE)
    if not d.approved:
        why = f"{d.by} rejected the plan" + (f": {d.note}" if d.note else "")
        return end_round(r, why, max_rounds)
    plan = view.fact_json("diagnosis", str(r["n"]))["plan"]
    if d.edited is not None:
        plan = checked_plan(replies.bullets(d.edited), "the edited plan")
    log.info(f"round {r['n']}: {d.by} approved {', '.join(plan)}")
    return [
        Change.put_fact("plan", str(r["n"]), {"commands": plan, "gate": gate.id, "edited": d.edited is not None}),
        Change.put_fact("round", "current", {"n": r["n"], "ran": 0}),
        Change.phase("mitigate"),
    ]


def checked_plan(plan: list, what: str) -> List[str]:
    if not plan:
        refuse(f"{what} names no command; list one or more of: {', '.join(MITIGATIONS)}")
    for c in plan:
        if c not in MITIGATIONS:
            refuse(f"{what} names {c!r}, which is not a mitigation command (they are: {', '.join(MITIGATIONS)})")
    return list(plan)


def record_command(tick, step: str, name: str, n: int, outcome: CommandResult) -> Change:
    """The `command` fact of the command that just ran, keyed by its ledger row (recorded in
    this same tick, before `apply` is called)."""
    rows = [row for row in view.ledger_of(step) if row.tick == tick.seq and row.status == "done"]
    if len(rows) != 1:
        raise RuntimeError(f"expected one ledger row of step {step} in tick {tick.seq}, the view shows {len(rows)}")
    return Change.put_fact("command", rows[0].key, {"name": name, "step": step, "round": n, "exit_code": outcome.exit_code, "tick": tick.seq})


def end_round(r: dict, why: str, max_rounds: int) -> list:
    changes = [Change.put_fact("history", f"{r['n']:04}", {"round": r["n"], "text": why})]
    if r["n"] >= max_rounds:
        reason = f"the incident is not mitigated after {r['n']} round(s): {why}"
        return changes + [Change.put_fact("outcome", "failed", {"reason": reason}), Change.phase("failed")]
    log.info(f"round {r['n']} ended: {why}")
    return changes + [Change.put_fact("round", "current", {"n": r["n"] + 1, "ran": 0}), Change.phase("diagnose")]


def tail(text: str) -> str:
    t = " ".join(text.split())
    return t[-300:] if t else "(no output)"
