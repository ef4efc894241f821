"""services.common.timeutil: RFC 3339 parsing and printing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.common.timeutil import format_rfc3339, parse_rfc3339, utcnow

UTC = UTC


@pytest.mark.parametrize("text,expected", [
    ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
    ("2026-01-31t12:00:00z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
    ("2026-01-31T12:00:00+00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
    ("2026-01-31T14:30:00+02:30", datetime(2026, 1, 31, 12, tzinfo=UTC)),
    ("2026-01-31T07:00:00-05:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
    ("2026-01-01T01:00:00+02:00", datetime(2025, 12, 31, 23, tzinfo=UTC)),
    ("2026-01-31T12:00:00.250Z", datetime(2026, 1, 31, 12, 0, 0, 250_000, tzinfo=UTC)),
    (" 2026-01-31T12:00:00Z ", datetime(2026, 1, 31, 12, tzinfo=UTC)),
])
def test_parse_accepts_z_and_offsets_and_converts_to_utc(text, expected):
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", [
    "2026-01-31T12:00:00",       # naive
    "2026-01-31",                # date only
    "2026-01-31+00:00",          # date only with an offset
    "12:00:00Z",                 # time only
    "yesterday",
    "",
    "2026-13-01T00:00:00Z",      # no 13th month
])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        parse_rfc3339(text)


@pytest.mark.parametrize("value", [None, 1738324800, 1.5, b"2026-01-31T12:00:00Z"])
def test_parse_rejects_non_strings(value):
    with pytest.raises(ValueError):
        parse_rfc3339(value)  # type: ignore[arg-type]


def test_format_utc_with_z():
    assert format_rfc3339(datetime(2026, 1, 31, 12, tzinfo=UTC)) == "2026-01-31T12:00:00Z"


def test_format_converts_other_offsets_to_utc():
    value = datetime(2026, 1, 31, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert format_rfc3339(value) == "2026-01-31T12:00:00Z"


def test_format_keeps_microseconds():
    assert format_rfc3339(datetime(2026, 1, 31, 12, 0, 0, 5, tzinfo=UTC)) == "2026-01-31T12:00:00.000005Z"


def test_format_rejects_naive():
    with pytest.raises(ValueError):
        format_rfc3339(datetime(2026, 1, 31, 12))


def test_round_trip():
    value = datetime(2026, 6, 30, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=9)))
    assert parse_rfc3339(format_rfc3339(value)) == value


def test_utcnow_is_aware_utc():
    assert utcnow().utcoffset() == timedelta(0)


def test_format_prints_what_isoformat_prints_for_every_field_width():
    """The %-formatted fast path against `isoformat`, the definition it replaces."""
    import random

    rng = random.Random(7)
    offsets = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    for _ in range(5000):
        value = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                         rng.randint(0, 59), rng.randint(0, 59), rng.choice([0, 1, 999_999, rng.randint(0, 999_999)]),
                         tzinfo=rng.choice(offsets))
        try:
            expected = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        except OverflowError:
            continue
        assert format_rfc3339(value) == expected
        assert parse_rfc3339(expected) == value
