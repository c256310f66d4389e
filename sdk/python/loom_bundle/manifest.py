"""The manifest and its builders: what a bundle declares about itself.

Each builder method returns the object it was called on, so a manifest reads as a list of
declarations:

    Manifest("hello", "0.1.0")
        .phases("draft", "approve", "done", "failed")
        .step(Step("draft", "draft", "A writer drafts a greeting.").agent("writer", "greet"))
        .gate(GateDecl("approve", Decider.HUMAN, Risk.LOW, "Send it?"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .types import Decider, ParamType, Risk, to_json


@dataclass
class Param:
    """A template parameter; build with `Param.text / integer / boolean / text_list`."""

    name: str
    type: ParamType
    required: bool = True
    doc: str = ""

    @staticmethod
    def text(name: str, doc: str = "") -> "Param":
        return Param(name, ParamType.TEXT, True, doc)

    @staticmethod
    def integer(name: str, doc: str = "") -> "Param":
        return Param(name, ParamType.INTEGER, True, doc)

    @staticmethod
    def boolean(name: str, doc: str = "") -> "Param":
        return Param(name, ParamType.BOOLEAN, True, doc)

    @staticmethod
    def text_list(name: str, doc: str = "") -> "Param":
        """Rendered as one `- item` line per element."""
        return Param(name, ParamType.TEXT_LIST, True, doc)

    def optional(self) -> "Param":
        self.required = False
        return self


@dataclass
class Template:
    """A prompt template; `body` uses `{{name}}` placeholders, checked against `params`."""

    id: str
    body: str
    params: list = field(default_factory=list)

    def param(self, param: Param) -> "Template":
        self.params.append(param)
        return self


@dataclass
class Step:
    """A step of `phase`. `.agent(role, template)` makes it an agent call; a command or an
    apply-diff step has neither."""

    name: str
    phase: str
    doc: str = ""
    role: Optional[str] = None
    template: Optional[str] = None

    def agent(self, role: str, template: str) -> "Step":
        self.role = role
        self.template = template
        return self


@dataclass
class GateDecl:
    """A gate, its default decider and risk (the policy dial reads both).

    `role`: the agent role that decides it when the policy hands it to an agent (loom's
    default is `gatekeeper`); that agent answers `APPROVE` or `REJECT: reason` on its first
    line. `editable`: the decider may approve with an edited version of the summary it was
    shown, which arrives in `GateDecision.edited`."""

    name: str
    decider: Decider
    risk: Risk
    doc: str = ""
    role: Optional[str] = None
    editable: bool = False


@dataclass
class RuleDecl:
    id: str
    doc: str = ""


@dataclass
class Setting:
    """A project setting (`[bundle]` in loom.toml) the bundle reads with `view.setting`.
    `default` is a Python value (stored as JSON); `None` makes the setting required."""

    key: str
    type: ParamType
    default: Any = None
    doc: str = ""

    @staticmethod
    def text(key: str, default: Optional[str] = None, doc: str = "") -> "Setting":
        return Setting(key, ParamType.TEXT, default, doc)

    @staticmethod
    def integer(key: str, default: Optional[int] = None, doc: str = "") -> "Setting":
        return Setting(key, ParamType.INTEGER, default, doc)

    @staticmethod
    def boolean(key: str, default: Optional[bool] = None, doc: str = "") -> "Setting":
        return Setting(key, ParamType.BOOLEAN, default, doc)

    @staticmethod
    def text_list(key: str, default: Optional[list] = None, doc: str = "") -> "Setting":
        return Setting(key, ParamType.TEXT_LIST, default, doc)

    def default_json(self) -> Optional[str]:
        return None if self.default is None else to_json(self.default)


@dataclass
class Manifest:
    name: str
    version: str
    phase_names: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    gates: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    templates: list = field(default_factory=list)
    #: names of the project commands the bundle runs (`[commands]` in loom.toml)
    commands: list = field(default_factory=list)
    settings: list = field(default_factory=list)

    def phases(self, *phases: str) -> "Manifest":
        """Sets the phases; the first is where a run starts."""
        self.phase_names = list(phases)
        return self

    def step(self, step: Step) -> "Manifest":
        self.steps.append(step)
        return self

    def gate(self, gate: GateDecl) -> "Manifest":
        self.gates.append(gate)
        return self

    def rule(self, rule: RuleDecl) -> "Manifest":
        self.rules.append(rule)
        return self

    def template(self, template: Template) -> "Manifest":
        self.templates.append(template)
        return self

    def needs_command(self, *names: str) -> "Manifest":
        """Declares project commands the bundle runs; loom checks the project configures them
        before a task opens."""
        self.commands.extend(names)
        return self

    def setting(self, setting: Setting) -> "Manifest":
        """Declares a setting the bundle reads; loom checks the project's `[bundle]` table
        against the declared ones (a misspelt key, a wrong type, a missing required one)."""
        self.settings.append(setting)
        return self

    # ---- lookups the harness and authors' tests use ----

    def find_step(self, name: str) -> Optional[Step]:
        return next((s for s in self.steps if s.name == name), None)

    def find_gate(self, name: str) -> Optional[GateDecl]:
        return next((g for g in self.gates if g.name == name), None)

    def find_template(self, id: str) -> Optional[Template]:
        return next((t for t in self.templates if t.id == id), None)

    def find_setting(self, key: str) -> Optional[Setting]:
        return next((s for s in self.settings if s.key == key), None)
