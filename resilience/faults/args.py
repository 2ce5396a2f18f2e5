"""Argument checks every fault runs when it is built, so a bad value fails at load time, before anything starts.

Messages start with the argument's name as experiments spell it (`duration_s: must be > 0 (got -1)`), so the
experiment loader can prefix the file and the activity.
"""

from __future__ import annotations

import re

from resilience.errors import UsageError

_TC_RATE = re.compile(r"^\d+(\.\d+)?([kmgt]i?)?(bit|bps)$", re.IGNORECASE)


def positive(name: str, value: float) -> None:
    if not value > 0:
        raise UsageError(f"{name}: must be > 0 (got {value})")


def non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise UsageError(f"{name}: must be >= 0 (got {value})")


def share(name: str, value: float, top: float = 1.0) -> None:
    """`value` in (0, top]: a probability or a fraction (top 1), or a percentage (top 100)."""
    if not 0 < value <= top:
        raise UsageError(f"{name}: must be in (0, {top:g}] (got {value})")


def one_of(name: str, value: str, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise UsageError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


def tc_rate(name: str, value: str) -> None:
    """A rate as tc writes it: `1mbit`, `500kbit`, `2gbit`, `100kbps` (bytes)."""
    if not _TC_RATE.match(value):
        raise UsageError(f"{name}: {value!r} is not a tc rate; write e.g. 1mbit, 500kbit or 100kbps")
