"""Durations, percentages and multiples as operators write them in policy files.

`15m`, `4h`, `1h30m`, `2d`, `90s` or a bare number of seconds; `80%` or `0.8` for a share
of a target; `2x` or `200%` for a multiple. One parser for all of them keeps the policy
files readable and the error messages identical wherever a duration appears.
"""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")


#: Due-time maths on business calendars walks the calendar: a target must stay reachable.
MAX_SECONDS = 10 * 365 * 24 * 3600.0


def parse_duration(value: object) -> float:
    """Seconds in `value`; ValueError with a hint when it is not a positive, finite duration."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (like 90s, 15m, 4h, 2d)")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _WHOLE.match(value.strip().lower().replace(" ", "")):
        text = value.strip().lower().replace(" ", "")
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"{value!r} is not a duration (like 90s, 15m, 4h, 2d)")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{value!r} is longer than 10 years: no SLA clock can reach it")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 900 → `15m`, 5400 → `1h30m`, 86400 → `1d`, 1.5 → `1.5s`."""
    if seconds != int(seconds) or seconds <= 0:
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def parse_share(value: object) -> float:
    """A share of a target in (0, 1): `80%` or `0.8`."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage like 80%") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        share = float(value)
    else:
        raise ValueError(f"{value!r} is not a share of the target (like 80% or 0.8)")
    if not 0 < share < 1:
        raise ValueError(f"{value!r} must lie strictly between 0% and 100% of the target")
    return share


def parse_multiple(value: object) -> float:
    """A multiple of a target, at least 1: `2x`, `200%` or `2`."""
    text = value.strip().lower() if isinstance(value, str) else value
    try:
        if isinstance(text, str) and text.endswith("x"):
            multiple = float(text[:-1])
        elif isinstance(text, str) and text.endswith("%"):
            multiple = float(text[:-1]) / 100.0
        elif isinstance(text, int | float) and not isinstance(text, bool):
            multiple = float(text)
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"{value!r} is not a multiple of the target (like 2x or 200%)") from None
    if not math.isfinite(multiple) or multiple < 1:
        raise ValueError(f"{value!r} must be at least the target itself (1x, 100%)")
    return multiple
