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
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("expected an RFC 3339 timestamp with a time zone offset, e.g. 2026-01-31T12:00:00Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 has no UTC equivalent in datetime's range
        raise ValueError("the timestamp is outside the representable range") from exc


def format_rfc3339(value: datetime) -> str:
    """Print an aware datetime as RFC 3339 in UTC with a `Z` suffix."""
    if value.tzinfo is UTC:  # nearly always (utcnow, parse_rfc3339, asyncpg): a third faster
        return value.isoformat()[:-6] + "Z"
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)
