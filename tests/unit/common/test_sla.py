"""services.common.sla: first-response targets and deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import ConfigError
from services.common.sla import DEFAULT_FIRST_RESPONSE_TARGETS, PRIORITIES, first_response_due, validate_targets


def test_empty_targets_are_the_defaults():
    assert validate_targets({}) == DEFAULT_FIRST_RESPONSE_TARGETS
    assert set(DEFAULT_FIRST_RESPONSE_TARGETS) == set(PRIORITIES)


def test_defaults_are_ordered_by_urgency():
    targets = [DEFAULT_FIRST_RESPONSE_TARGETS[p] for p in PRIORITIES]
    assert targets == sorted(targets)


def test_partial_targets_merge_with_defaults():
    merged = validate_targets({"critical": 300.0})
    assert merged == {**DEFAULT_FIRST_RESPONSE_TARGETS, "critical": 300.0}
    assert DEFAULT_FIRST_RESPONSE_TARGETS["critical"] == 900.0  # defaults not mutated


def test_unknown_priority_rejected_and_named():
    with pytest.raises(ConfigError, match="urgent"):
        validate_targets({"urgent": 60.0})


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_non_positive_targets_rejected(value):
    with pytest.raises(ConfigError, match="high"):
        validate_targets({"high": value})


def test_nan_target_rejected():
    with pytest.raises(ConfigError):
        validate_targets({"critical": float("nan")})


def test_first_response_due_adds_the_target():
    created = datetime(2026, 1, 31, 12, tzinfo=UTC)
    targets = validate_targets({"critical": 900.0})
    assert first_response_due(created, "critical", targets) == created + timedelta(minutes=15)
    assert first_response_due(created, "low", targets) == created + timedelta(days=1)
    due = first_response_due(created, "normal", targets)
    assert due.tzinfo is not None and due - created == timedelta(hours=4)


def test_first_response_due_unknown_priority():
    with pytest.raises(KeyError):
        first_response_due(datetime(2026, 1, 1, tzinfo=UTC), "urgent", DEFAULT_FIRST_RESPONSE_TARGETS)
