"""What loom checks about a bundle, done natively so a test finds it before a run does: the
manifest's problems (as loom refuses them at load) and a template rendered from its
arguments (as loom renders it before an agent call)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable, List

from .manifest import Manifest, Template
from .types import Arg, ParamType

NAME_BYTES_MAX = 128
UNCERTAIN_PREFIX = "uncertain:"


def manifest_problems(m: Manifest) -> List[str]:
    """Every problem in `m`, each naming the item and what to fix; empty when it is sound."""
    out: List[str] = []
    _name(out, "the bundle's name", m.name)
    _name(out, "the bundle's version", m.version)
    if not m.phase_names:
        out.append("it declares no phases; a run starts in the first phase, so declare at least one")
    for p in m.phase_names:
        _name(out, f"phase {p!r}", p)
    _dups(out, "phase", m.phase_names)
    ids = [t.id for t in m.templates]
    for s in m.steps:
        what = f"step {s.name!r}"
        _name(out, what, s.name)
        _reserved(out, what, s.name)
        if s.phase not in m.phase_names:
            out.append(f"{what} is in phase {s.phase!r}, which is not declared (phases: {_shown(m.phase_names)})")
        if (s.role is None) != (s.template is None):
            out.append(f"{what} names a role or a template but not both; an agent step names both")
        if s.template is not None and s.template not in ids:
            out.append(f"{what} uses template {s.template!r}, which is not declared (templates: {_shown(ids)})")
    _dups(out, "step", [s.name for s in m.steps])
    for g in m.gates:
        _name(out, f"gate {g.name!r}", g.name)
        _reserved(out, f"gate {g.name!r}", g.name)
    _dups(out, "gate", [g.name for g in m.gates])
    for r in m.rules:
        _name(out, f"rule {r.id!r}", r.id)
    _dups(out, "rule", [r.id for r in m.rules])
    for t in m.templates:
        _template(out, t)
    _dups(out, "template", ids)
    for c in m.commands:
        _name(out, f"needed command {c!r}", c)
    _dups(out, "needed command", m.commands)
    for s in m.settings:
        _name(out, f"setting {s.key!r}", s.key)
        if s.default is not None and not value_has_type(s.default, s.type):
            out.append(f"setting {s.key!r} is {s.type.value} but its default is {json.dumps(s.default)}")
    _dups(out, "setting", [s.key for s in m.settings])
    return out


def value_has_type(v: object, t: ParamType) -> bool:
    if t is ParamType.TEXT:
        return isinstance(v, str)
    if t is ParamType.INTEGER:
        return isinstance(v, int) and not isinstance(v, bool)
    if t is ParamType.BOOLEAN:
        return isinstance(v, bool)
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def arg_type(v: object) -> ParamType:
    if isinstance(v, bool):
        return ParamType.BOOLEAN
    if isinstance(v, int):
        return ParamType.INTEGER
    if isinstance(v, str):
        return ParamType.TEXT
    return ParamType.TEXT_LIST


def render(t: Template, args: Iterable[Arg]) -> str:
    """The prompt loom would send, or `ValueError` saying which argument is wrong."""
    args = list(args)
    params = {p.name: p for p in t.params}
    for a in args:
        p = params.get(a.name)
        if p is None:
            raise ValueError(f"template {t.id!r} has no parameter {a.name!r} (it takes: {_shown(params)})")
        if arg_type(a.value) is not p.type:
            raise ValueError(f"template {t.id!r} parameter {p.name!r} is {p.type.value}, but the bundle passed {arg_type(a.value).value}")
    given = {a.name: a.value for a in args}
    for p in t.params:
        if p.required and p.name not in given:
            raise ValueError(f"template {t.id!r} needs parameter {p.name!r} ({p.type.value}), which the bundle did not pass")
    out, rest = [], t.body
    while "{{" in rest:
        before, after = rest.split("{{", 1)
        out.append(before)
        if "}}" not in after:
            raise ValueError(f"template {t.id!r} has an unclosed {{{{")
        name, rest = after.split("}}", 1)
        name = name.strip()
        if name not in params:
            raise ValueError(f"template {t.id!r} uses {{{{{name}}}}}, which is not one of its parameters")
        if name in given:
            out.append(_render_value(given[name]))
    out.append(rest)
    return "".join(out)


def _render_value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, str)):
        return str(v)
    return "\n".join(f"- {x}" for x in v)  # type: ignore[union-attr]


def _template(out: List[str], t: Template) -> None:
    what = f"template {t.id!r}"
    _name(out, what, t.id)
    for p in t.params:
        _name(out, f"a parameter of {what}", p.name)
    _dups(out, f"{what}: parameter", [p.name for p in t.params])
    rest = t.body
    names = [p.name for p in t.params]
    while "{{" in rest:
        after = rest.split("{{", 1)[1]
        if "}}" not in after:
            out.append(f"{what} has a {{{{ in its body that is never closed with }}}}")
            return
        used, rest = after.split("}}", 1)
        if used.strip() not in names:
            out.append(f"{what} uses {{{{{used.strip()}}}}} in its body, which is not one of its parameters ({_shown(names)})")


def _name(out: List[str], what: str, text: str) -> None:
    if not text or not text.strip():
        out.append(f"{what} is empty; give it a name")
    elif len(text.encode()) > NAME_BYTES_MAX:
        out.append(f"{what[:60]} is {len(text.encode())} bytes long, over {NAME_BYTES_MAX}; shorten it")


def _reserved(out: List[str], what: str, text: str) -> None:
    if text.startswith(UNCERTAIN_PREFIX):
        out.append(f"{what} starts with {UNCERTAIN_PREFIX!r}, which loom reserves for the gates it opens itself")


def _dups(out: List[str], kind: str, names: Iterable[str]) -> None:
    for n, times in sorted(Counter(names).items()):
        if times > 1:
            out.append(f"{kind} {n!r} is declared {times} times; ids must be unique")


def _shown(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "none"
