"""Reading agent replies, which are untrusted text: helpers that say what they expected."""

from __future__ import annotations

import json
import re
from typing import Any, List

from .bundle import refuse

_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


def json_object(text: str, what: str = "the reply") -> dict:
    """The JSON object in `text`: the whole text, or the first ```json fenced block, or the
    span from its first `{` to its last `}`. Anything else is refused, saying what was
    expected (inside `apply`, that is the outcome's refusal)."""
    candidates = [text.strip()]
    m = _FENCE.search(text)
    if m:
        candidates.append(m.group(1).strip())
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first : last + 1])
    for c in candidates:
        try:
            value = json.loads(c)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    refuse(f"{what} holds no JSON object: {_preview(text)}")


def field(obj: dict, name: str, kind: type, what: str = "the reply") -> Any:
    """`obj[name]`, refused unless it is present and a `kind` (`str`, `list`, …)."""
    if name not in obj:
        refuse(f"{what} has no {name!r} field; it has {sorted(obj)}")
    v = obj[name]
    if kind is int and isinstance(v, bool) or not isinstance(v, kind):
        refuse(f"{what}'s {name!r} is {type(v).__name__} {_preview(json.dumps(v))}, not {kind.__name__}")
    return v


def bullets(text: str) -> List[str]:
    """The items of `- item` (or `* item`) lines, in order, stripped."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("- ", "* ")):
            item = s[2:].strip()
            if item:
                out.append(item)
    return out


def _preview(text: str) -> str:
    t = " ".join(text.split())
    return repr(t if len(t) <= 160 else t[:159] + "…")
