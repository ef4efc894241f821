"""services.notify: alert text, delivery backoff and the breach event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.envelope import decode
from services.common.topics import EventType
from services.notify.delivery import backoff_s
from services.notify.senders.webhook import DeliveryFailed, render_text
from services.notify.timers import SOURCE, FiredTimer, breach_event

ALERT = {"case_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "timer": "first_response", "threshold": "breach",
         "department": "billing", "priority": "critical", "channel": "x", "due_at": "2026-01-31T12:15:00Z"}


def test_render_text_mentions_everything_an_agent_needs():
    text = render_text(ALERT)
    assert text == (":rotating_light: SLA breach - first response for a critical billing case on x "
                    "(due 2026-01-31T12:15:00Z, case 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b)")


def test_render_text_varies_with_the_alert():
    text = render_text({**ALERT, "threshold": "warning", "timer": "next_response", "department": "pr",
                        "priority": "high", "channel": "call_center"})
    assert "SLA warning - next response for a high pr case on call_center" in text
    assert "\n" not in text


def test_render_text_needs_the_fields():
    with pytest.raises(KeyError):
        render_text({"case_id": "c"})


def test_delivery_failed_is_retriable():
    assert DeliveryFailed("503").retriable is True


@pytest.mark.parametrize("attempt,expected", [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 256.0), (10, 300.0),
                                              (50, 300.0)])
def test_backoff_doubles_and_caps_at_five_minutes(attempt, expected):
    assert backoff_s(attempt) == expected
    assert isinstance(backoff_s(attempt), float)


@pytest.mark.parametrize("attempt", [0, -3])
def test_backoff_before_the_first_attempt_is_one_second(attempt):
    assert backoff_s(attempt) == 1.0


def test_backoff_never_decreases():
    values = [backoff_s(a) for a in range(1, 30)]
    assert values == sorted(values)


def _timer() -> FiredTimer:
    return FiredTimer(case_id="case-1", kind="first_response", department="billing", priority="critical",
                      channel="x", due_at=datetime(2026, 1, 31, 12, 15, tzinfo=UTC),
                      started_at=datetime(2026, 1, 31, 12, 0, tzinfo=UTC))


def test_breach_event():
    fired = datetime(2026, 1, 31, 12, 16, 30, 500_000, tzinfo=UTC)
    ev = breach_event(_timer(), fired)
    assert ev.type == EventType.SLA_BREACHED
    assert ev.source == SOURCE
    assert ev.key == ev.subject == "case-1"
    assert ev.data == {"case_id": "case-1", "timer": "first_response", "threshold": "breach",
                       "department": "billing", "priority": "critical", "channel": "x",
                       "started_at": "2026-01-31T12:00:00Z", "due_at": "2026-01-31T12:15:00Z",
                       "fired_at": "2026-01-31T12:16:30.500000Z", "overdue_seconds": 90.5}
    assert ":rotating_light: SLA breach" in render_text(ev.data)


def test_breach_event_fired_early_is_not_negative():
    ev = breach_event(_timer(), _timer().due_at - timedelta(seconds=3))
    assert ev.data["overdue_seconds"] == 0.0


def test_breach_event_survives_the_envelope():
    ev = breach_event(_timer(), _timer().due_at + timedelta(minutes=1))
    back = decode(ev.headers(), ev.body(), ev.key_bytes(), expected_types=frozenset({EventType.SLA_BREACHED}))
    assert back.data == ev.data and back.subject == "case-1" and back.key == "case-1"
