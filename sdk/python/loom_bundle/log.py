"""Diagnostics from a bundle.

Inside loom a line goes to the host, which keeps the last few of each call and attaches them
to the message of a fault in that call; lines are not part of the run's record. Natively they
are kept in `recent()` (the test harness prints them with a failure).
"""

from __future__ import annotations

import collections
from typing import Any, Callable, List, Optional, Tuple

LEVELS = ("debug", "info", "warn", "error")

# (level, message) -> None; set by the guest glue inside loom.
_sink: Optional[Callable[[str, str], None]] = None
_recent: Any = collections.deque(maxlen=200)


def write(level: str, message: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    message = str(message)
    if _sink is not None:
        _sink(level, message)
    else:
        _recent.append((level, message))


def debug(message: str) -> None:
    write("debug", message)


def info(message: str) -> None:
    write("info", message)


def warn(message: str) -> None:
    write("warn", message)


def error(message: str) -> None:
    write("error", message)


def recent() -> List[Tuple[str, str]]:
    """The lines written natively (outside loom), oldest first."""
    return list(_recent)


def clear() -> None:
    _recent.clear()
