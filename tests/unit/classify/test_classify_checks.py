"""services.classify.app: the pure record check and latency helper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.classify.app import _check_mention, _since
from services.common.errors import PoisonRecord


def mention() -> dict:
    return {"id": "m-1", "channel": "x", "text": "refund me", "author": {"id": "1"},
            "received_at": "2026-01-31T12:00:00Z"}


def test_valid_mention_passes():
    assert _check_mention(mention()) is None


@pytest.mark.parametrize("field", ["id", "channel", "text", "author", "received_at"])
def test_missing_field_is_poison(field):
    data = mention()
    del data[field]
    with pytest.raises(PoisonRecord) as info:
        _check_mention(data)
    assert info.value.reason == "schema_violation"
    assert field in info.value.detail


@pytest.mark.parametrize("field,value", [("text", 42), ("text", None), ("author", "jane"), ("author", None)])
def test_wrong_types_are_poison(field, value):
    data = {**mention(), field: value}
    with pytest.raises(PoisonRecord):
        _check_mention(data)


def test_since():
    now = datetime(2026, 1, 31, 12, 0, 2, 500_000, tzinfo=UTC)
    assert _since("2026-01-31T12:00:00Z", now) == 2.5
    assert _since("2026-01-31T12:00:10Z", now) == 0.0  # clock skew never gives a negative latency
    assert _since("garbage", now) == 0.0
