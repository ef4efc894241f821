"""RFC 3339 timestamps: one way to parse and print them everywhere."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    Raises ValueError for anything without an explicit offset: a naive time is ambiguous
    and SLA clocks must not guess a time zone.
    """
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 string")
    text = value.strip()
    if not _RFC3339.match(text):
        raise ValueError("expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z")
    if text[-1] == "z":  # Python 3.11's fromisoformat reads "Z" but not "z"
        text = text[:-1] + "Z"
    parsed = datetime.fromisoformat(text)  # the pattern guarantees an offset
    if parsed.tzinfo is UTC:  # a "Z" timestamp, nearly every one: no conversion
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 has no UTC equivalent in datetime's range
        raise ValueError("the timestamp is outside the representable range") from exc


def format_rfc3339(value: datetime) -> str:
    """Print an aware datetime as RFC 3339 in UTC with a `Z` suffix, as `isoformat` would
    (fraction only when there are microseconds).

    %-formatting the fields is a third faster than `isoformat()` and slicing off the offset;
    notify prints every step time of every clock it arms, route every time of a case snapshot.
    """
    if value.tzinfo is not UTC:  # nearly always UTC (utcnow, parse_rfc3339, asyncpg)
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
    if value.microsecond:
        return _WITH_FRACTION % (value.year, value.month, value.day, value.hour, value.minute, value.second,
                                 value.microsecond)
    return _WHOLE_SECONDS % (value.year, value.month, value.day, value.hour, value.minute, value.second)


_WITH_FRACTION = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
_WHOLE_SECONDS = "%04d-%02d-%02dT%02d:%02d:%02dZ"


def utcnow() -> datetime:
    return datetime.now(UTC)
