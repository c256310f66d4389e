"""loom_bundle: write loom bundles in Python (`loom:bundle@0.2.0`).

Subclass `Bundle`, declare its `manifest()`, decide in `next()` and `apply()`, guard the state in
`check()`; read the run through `view`; build it with `python -m loom_bundle.build`; test it
natively with `loom_bundle.testing`. See README.md beside this package.
"""

from . import log, replies, view
from .bundle import Bundle, Failure, Refused, Rules, refuse
from .manifest import GateDecl, Manifest, Param, RuleDecl, Setting, Step, Template
from .types import (
    AgentCall,
    AgentReply,
    ApplyDiffCall,
    Arg,
    Change,
    CommandCall,
    CommandResult,
    Decider,
    DiffResult,
    DropFact,
    EffectStep,
    Fact,
    Fail,
    Finish,
    Gate,
    GateDecision,
    GateStatus,
    GateStep,
    LedgerEntry,
    NextStep,
    Note,
    ParamType,
    PutFact,
    Risk,
    SetPhase,
    Task,
    TickToken,
    Violation,
)

CONTRACT = "loom:bundle@0.2.0"

__all__ = [
    "CONTRACT", "log", "replies", "view", "Bundle", "Failure", "Refused", "Rules", "refuse",
    "GateDecl", "Manifest", "Param", "RuleDecl", "Setting", "Step", "Template", "AgentCall",
    "AgentReply", "ApplyDiffCall", "Arg", "Change", "CommandCall", "CommandResult", "Decider",
    "DiffResult", "DropFact", "EffectStep", "Fact", "Fail", "Finish", "Gate", "GateDecision",
    "GateStatus", "GateStep", "LedgerEntry", "NextStep", "Note", "ParamType", "PutFact", "Risk",
    "SetPhase", "Task", "TickToken", "Violation",
]
