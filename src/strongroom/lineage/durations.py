"""Durations as people write them in policies: ``30d``, ``12h``, ``90m``, ``45s``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^([0-9]{1,6})([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX = timedelta(days=36500)


class DurationInvalid(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """``30d`` → 30 days; a number and one unit of s, m, h, d, w; at most a century."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise DurationInvalid(f"{text[:32]!r} is not a duration: a number and a unit, as 30d, 12h, 2w")
    value = timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])
    if value <= timedelta() or value > MAX:
        raise DurationInvalid(f"{text[:32]!r} must be more than zero and at most 36500d")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact form: ``30d``, ``36h``, ``90m``, ``45s``."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _SECONDS[unit] == 0:
            return f"{seconds // _SECONDS[unit]}{unit}"
    return f"{seconds}s"


def format_age(value: timedelta) -> str:
    """Roughly, for people: ``12 days``, ``5 hours``, ``3 minutes``."""
    seconds = max(0, int(value.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
