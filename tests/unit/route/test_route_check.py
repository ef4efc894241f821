"""services.route: pure parts (record checks, case snapshot, settings)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.errors import PoisonRecord
from services.common.settings import load
from services.common.sla import DEFAULT_FIRST_RESPONSE_TARGETS, validate_targets
from services.common.topics import DEPARTMENTS
from services.route.app import check_classified
from services.route.events import snapshot
from services.route.settings import RouteSettings
from services.route.state import PRIORITY_RANK as _RANK
from services.route.state import CaseState


def classified() -> dict:
    return {
        "mention": {"id": "m-1", "channel": "x", "external_id": "146", "text": "refund me",
                    "created_at": "2026-01-31T12:00:00Z", "received_at": "2026-01-31T12:00:05Z",
                    "author": {"id": "cust-1", "followers": 10}},
        "classification": {"department": "billing", "priority": {"score": 62, "bucket": "high"}},
    }


def test_check_returns_mention_and_classification():
    data = classified()
    mention, classification = check_classified(data, DEPARTMENTS)
    assert mention is data["mention"]
    assert classification is data["classification"]


def _poison(data, reason: str = "schema_violation") -> PoisonRecord:
    with pytest.raises(PoisonRecord) as info:
        check_classified(data, DEPARTMENTS)
    assert info.value.reason == reason
    return info.value


@pytest.mark.parametrize("field", ["id", "channel", "external_id", "text", "created_at", "received_at"])
def test_check_requires_mention_fields(field):
    data = classified()
    del data["mention"][field]
    assert field in _poison(data).detail


def test_check_requires_both_objects():
    _poison({"mention": classified()["mention"]})
    _poison({"classification": classified()["classification"]})
    _poison({"mention": "m-1", "classification": {}})


@pytest.mark.parametrize("mutate", [
    lambda d: d["mention"].pop("author"),
    lambda d: d["mention"]["author"].pop("id"),
    lambda d: d["mention"].update(author=None),
    lambda d: d["mention"].update(created_at="2026-01-31T12:00:00"),
    lambda d: d["mention"].update(received_at="soon"),
    lambda d: d["classification"].pop("priority"),
    lambda d: d["classification"]["priority"].update(bucket="urgent"),
    lambda d: d["classification"]["priority"].update(score="high"),
    lambda d: d["classification"].pop("department"),
])
def test_check_rejects_malformed_records(mutate):
    data = classified()
    mutate(data)
    _poison(data)


def test_check_rejects_unknown_department():
    data = classified()
    data["classification"]["department"] = "legal"
    _poison(data, "unknown_department")


def test_priority_rank_order():
    assert _RANK["critical"] > _RANK["high"] > _RANK["normal"] > _RANK["low"]


def test_case_snapshot():
    case = CaseState(id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", status="open", department="billing",
                     departments=["billing", "legal"], priority="high", priority_score=62, channel="x", author_id=7,
                     person_id=7, conversation_key="x:42", sla_policy="default",
                     opened_at=datetime(2026, 1, 31, 12, tzinfo=UTC),
                     last_mention_at=datetime(2026, 1, 31, 12, 30, tzinfo=UTC),
                     first_response_due_at=datetime(2026, 1, 31, 13, tzinfo=UTC), mention_count=2, repeat_cases=1)
    snap = snapshot(case, {"id": 42, "handle": "jane", "followers": None, "verified": 1})
    assert snap["id"] == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert snap["opened_at"] == "2026-01-31T12:00:00Z"
    assert snap["last_mention_at"] == "2026-01-31T12:30:00Z"
    assert snap["first_response_due_at"] == "2026-01-31T13:00:00Z"
    assert snap["first_response_at"] is None and snap["resolved_at"] is None
    assert snap["mention_count"] == 2 and snap["priority_score"] == 62 and snap["departments"] == ["billing", "legal"]
    assert snap["repeat_author"] == {"cases": 1, "complaints": 0}
    assert snap["author"] == {"id": "42", "handle": "jane", "name": None, "followers": 0, "followers_known": False,
                              "verified": True}  # a NULL count is unknown, not zero


def test_route_settings_targets_from_environment():
    s = load(RouteSettings, {"HEATDESK_SLA_FIRST_RESPONSE_TARGETS": "critical=600,high=1800",
                             "HEATDESK_ROUTE_THREAD_WINDOW_S": "3600"})
    assert s.sla_first_response_targets == {"critical": 600.0, "high": 1800.0}
    assert s.route_thread_window_s == 3600.0
    assert validate_targets(s.sla_first_response_targets)["normal"] == DEFAULT_FIRST_RESPONSE_TARGETS["normal"]


def test_route_settings_override_nothing_by_default():
    """Without HEATDESK_SLA_FIRST_RESPONSE_TARGETS the policies file alone decides the targets."""
    s = RouteSettings()
    assert s.sla_first_response_targets == {}
    assert s.sla_first_response_targets is not RouteSettings().sla_first_response_targets
