"""services.notify: alert text, delivery backoff and jitter, signatures, email, the alert event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from services.common.envelope import decode
from services.common.topics import EventType
from services.notify.delivery import backoff_s, retry_delay_s
from services.notify.senders import target_kind
from services.notify.senders.email import build_message
from services.notify.senders.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryFailed,
    body_of,
    render_text,
    sign,
    verify,
)
from services.notify.timers import SOURCE, FiredStep, alert_event, targets_of

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


CRISIS = {"category": "crisis", "count": 12, "scope": "brand", "key": "@acme", "window_s": 600, "baseline": 1.5,
          "examples": [{"excerpt": "<!channel> see <https://evil.example|acme.com> & weep"}]}


def test_render_text_escapes_quoted_customer_text_for_slack():
    text = render_text(CRISIS)
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; see &lt;https://evil.example|acme.com&gt; &amp; weep" in text


def test_render_text_plain_quotes_as_written():
    assert '"<!channel> see <https://evil.example|acme.com> & weep"' in render_text(CRISIS, markup="plain")


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


def _step(**changes) -> FiredStep:
    base = dict(case_id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", kind="first_response", cycle=0, step="breach",
                level="breach", department="billing", priority="critical", channel="x", policy="default",
                started_at=datetime(2026, 1, 31, 12, 0, tzinfo=UTC), due_at=datetime(2026, 1, 31, 12, 15, tzinfo=UTC),
                step_due_at=datetime(2026, 1, 31, 12, 15, tzinfo=UTC), notify=("team_lead",))
    return FiredStep(**{**base, **changes})


def test_alert_event():
    fired = datetime(2026, 1, 31, 12, 16, 30, 500_000, tzinfo=UTC)
    ev = alert_event(_step(), fired, ["webhook"])
    assert ev.type == EventType.SLA_BREACHED
    assert ev.source == SOURCE
    assert ev.key == ev.subject == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert ev.data == {"case_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "timer": "first_response",
                       "threshold": "breach", "department": "billing", "priority": "critical", "channel": "x",
                       "started_at": "2026-01-31T12:00:00Z", "due_at": "2026-01-31T12:15:00Z",
                       "fired_at": "2026-01-31T12:16:30.500000Z", "overdue_seconds": 90.5, "clock": "first_response",
                       "cycle": 0, "level": "breach", "policy": "default", "step_due_at": "2026-01-31T12:15:00Z",
                       "notify": ["team_lead"], "targets": ["webhook"]}
    assert ":rotating_light: SLA breach" in render_text(ev.data)


def test_alert_event_id_is_the_step_not_the_moment():
    a = alert_event(_step(), datetime(2026, 1, 31, 12, 16, tzinfo=UTC))
    b = alert_event(_step(), datetime(2026, 1, 31, 13, 0, tzinfo=UTC))
    c = alert_event(_step(cycle=1), datetime(2026, 1, 31, 12, 16, tzinfo=UTC))
    assert a.id == b.id != c.id


def test_alert_event_fired_early_is_not_negative():
    ev = alert_event(_step(), _step().due_at - timedelta(seconds=3))
    assert ev.data["overdue_seconds"] == 0.0


def test_autoclose_is_a_resolution_alert_with_an_action():
    at = datetime(2026, 2, 7, 12, 0, tzinfo=UTC)
    ev = alert_event(_step(kind="autoclose", step="autoclose", level="autoclose", action="autoclose", due_at=at,
                           step_due_at=at, notify=()), at + timedelta(minutes=5))
    assert ev.data["timer"] == "resolution" and ev.data["clock"] == "autoclose"
    assert ev.data["threshold"] == "autoclose" and ev.data["action"] == "autoclose"
    assert ev.data["overdue_seconds"] == 0.0
    assert render_text(ev.data).startswith(":hourglass: SLA autoclose")


def test_alert_event_survives_the_envelope():
    ev = alert_event(_step(), _step().due_at + timedelta(minutes=1))
    back = decode(ev.headers(), ev.body(), ev.key_bytes(), expected_types=frozenset({EventType.SLA_BREACHED}))
    assert back.data == ev.data and back.subject == ev.key and back.id == ev.id


def test_targets_of_step_follow_roles_department_and_reachability():
    from services.common.slapolicy import load_policies

    policies = load_policies(Path(__file__).resolve().parents[2] / "data" / "sla" / "office.yaml")
    step = _step(notify=("team_lead", "head_of_department"))
    assert targets_of(step, policies) == ["webhook", "email:lead@example.com", "email:billing-head@example.com"]
    assert targets_of(step, policies, lambda t: t.startswith("email:")) == ["email:lead@example.com",
                                                                          "email:billing-head@example.com"]


def test_retry_delay_has_equal_jitter():
    assert retry_delay_s(4, lambda: 0.0) == 4.0 and retry_delay_s(4, lambda: 1.0) == 8.0
    assert retry_delay_s(20, lambda: 0.5) == 225.0
    delays = {round(retry_delay_s(3), 6) for _ in range(50)}
    assert len(delays) > 1 and all(2.0 <= d <= 4.0 for d in delays)


def test_signature_round_trip_and_tampering():
    body = body_of({**ALERT, "level": "breach"}, "slack")
    headers = {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: sign("s3cret", 1700000000, body)}
    assert headers[SIGNATURE_HEADER].startswith("v1=") and len(headers[SIGNATURE_HEADER]) == 67
    assert verify("s3cret", headers, body, now=1700000100)
    assert not verify("other", headers, body, now=1700000100)
    assert not verify("s3cret", headers, body + b" ", now=1700000100)
    assert not verify("s3cret", headers, body, now=1700000000 + 301)  # stale: a replayed capture
    assert not verify("s3cret", {SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body)


def test_body_formats():
    slack = orjson.loads(body_of(ALERT, "slack"))
    assert set(slack) == {"text", "heatdesk"} and slack["heatdesk"] == ALERT
    plain = orjson.loads(body_of(ALERT, "json"))
    assert plain["case_id"] == ALERT["case_id"] and plain["text"] == render_text(ALERT)


def test_crisis_text_and_email():
    alert = {"category": "crisis", "scope": "product", "key": "acme router", "count": 42, "baseline": 3.25,
             "window_s": 900.0, "examples": [{"excerpt": "my router caught fire"}]}
    assert render_text(alert) == (':fire: Crisis - 42 negative mentions of product acme router in 15 min (usual 3.2); '
                                  'e.g. "my router caught fire"')
    msg = build_message("heatdesk@acme.example", "pr@acme.example", "crisis:7:email:pr@acme.example", alert)
    assert msg["Subject"] == "[Heatdesk] Crisis: 42 negative mentions of product acme router"
    assert msg["Message-ID"].endswith("@acme.example>") and msg["X-Heatdesk-Idempotency-Key"].startswith("crisis:7")


def test_email_message_of_an_sla_alert():
    msg = build_message("heatdesk@acme.example", "lead@acme.example", "k1", ALERT)
    assert msg["Subject"] == "[Heatdesk] SLA breach: first response, critical billing case on x"
    assert msg["To"] == "lead@acme.example"
    body = msg.get_content()
    assert body.startswith(render_text(ALERT)) and '"case_id": "0190a1b2' in body
    assert build_message("a@b.c", "d@e.f", "k1", ALERT)["Message-ID"] == build_message("a@b.c", "x@y.z", "k1",
                                                                                       ALERT)["Message-ID"]


def test_target_kind_is_a_bounded_label():
    assert [target_kind(t) for t in ("webhook", "webhook:https://h/x", "email:a@b.c", "sms:1")] == [
        "webhook", "webhook", "email", "other"]


def test_permanent_refusals_are_not_retriable():
    assert DeliveryFailed("410", permanent=True).retriable is False
    assert DeliveryFailed("503").permanent is False
