"""Delivery against real receivers: signed webhooks, SMTP, per-target rate limits, the dead letter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from services.common.clock import ManualClock
from services.common.ids import uuid7
from services.common.topics import CASE_EVENTS, EventType
from services.notify.senders.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.integration.test_notify_helpers import Receiver, SmtpSink, applied, case_event, notify
from tests.support import Running, produce_events

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECRET = "whsec-test-4f1c"


def alert(case_id: str, threshold: str = "breach") -> dict:
    return {"case_id": case_id, "timer": "first_response", "threshold": threshold, "department": "billing",
            "priority": "critical", "channel": "x", "due_at": "2026-03-02T12:15:00Z", "level": "breach"}


async def insert(db, target: str, n: int = 1) -> list[str]:
    keys = []
    for _ in range(n):
        case_id = uuid7()
        key = f"{case_id}:first_response:0:breach:{target}"
        await db.execute(
            """INSERT INTO notifications (case_id, timer_kind, cycle, threshold, target, payload, dedupe_key)
               VALUES ($1, 'first_response', 0, 'breach', $2, $3::jsonb, $4)""",
            case_id, target, orjson.dumps(alert(case_id)).decode(), key)
        keys.append(key)
    return keys


async def test_webhook_body_is_signed_and_the_receiver_can_verify_it(service_env, broker, db):
    case_id = uuid7()
    async with Receiver() as receiver:
        svc = notify(service_env, ManualClock(T0 + timedelta(minutes=16)), HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url,
                     HEATDESK_NOTIFY_WEBHOOK_SECRET=SECRET)
        async with Running(svc):
            await produce_events(broker.bootstrap, CASE_EVENTS,
                                 [case_event(EventType.CASE_OPENED, case_id, T0, T0, priority="critical")])
            await applied(db, 1)
            await svc.scan_once()
            report = await svc.deliver_once()
    assert report.delivered == 1
    (body, headers), = receiver.raw
    assert headers[SIGNATURE_HEADER].startswith("v1=") and headers[TIMESTAMP_HEADER].isdigit()
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, body.replace(b"critical", b"low"))
    assert not verify("another-secret", headers, body)
    sent = orjson.loads(body)
    assert sent["heatdesk"]["case_id"] == case_id and sent["heatdesk"]["threshold"] == "breach"
    assert sent["text"].startswith(":rotating_light: SLA breach - first response for a critical billing case")
    assert receiver.keys == [f"{case_id}:first_response:0:breach:webhook"]


async def test_plain_json_body_option(service_env, db):
    async with Receiver() as receiver:
        svc = notify(service_env, HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url, HEATDESK_NOTIFY_WEBHOOK_FORMAT="json")
        (key,) = await insert(db, "webhook")
        async with Running(svc):
            await svc.deliver_once()
    (call,) = receiver.calls
    assert call["case_id"] == key.split(":")[0] and call["threshold"] == "breach" and "heatdesk" not in call


async def test_email_reaches_a_real_smtp_server_and_refusals_are_dead_lettered(service_env, db):
    with SmtpSink() as smtp:
        svc = notify(service_env, HEATDESK_NOTIFY_SMTP_HOST="127.0.0.1", HEATDESK_NOTIFY_SMTP_PORT=str(smtp.port),
                     HEATDESK_NOTIFY_SMTP_FROM="alerts@acme.example")
        (good,) = await insert(db, "email:lead@acme.example")
        async with Running(svc):
            report = await svc.deliver_once()
    assert report.delivered == 1
    ((rcpt, msg),) = smtp.messages
    assert rcpt == ["lead@acme.example"] and msg["From"] == "alerts@acme.example"
    assert msg["X-Heatdesk-Idempotency-Key"] == good
    assert msg["Subject"] == "[Heatdesk] SLA breach: first response, critical billing case on x"


async def test_smtp_server_down_is_retried_not_dropped(service_env, db):
    from services.common.embedded import free_port

    svc = notify(service_env, HEATDESK_NOTIFY_SMTP_HOST="127.0.0.1", HEATDESK_NOTIFY_SMTP_PORT=str(free_port()))
    await insert(db, "email:lead@acme.example")
    async with Running(svc):
        report = await svc.deliver_once()
    assert (report.retried, report.failed) == (1, 0)
    row = await db.fetchrow("SELECT status, attempts, last_error FROM notifications")
    assert row["status"] == "pending" and row["attempts"] == 1 and "SMTP unreachable" in row["last_error"]


async def test_per_target_rate_limit_defers_without_spending_attempts(service_env, db):
    async with Receiver() as receiver:
        svc = notify(service_env, HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url, HEATDESK_NOTIFY_RATE_LIMIT="2",
                     HEATDESK_NOTIFY_RATE_WINDOW_S="3600")
        await insert(db, "webhook", 3)
        async with Running(svc):
            report = await svc.deliver_once()
            again = await svc.deliver_once()  # the deferred one is not due before the window ends
    assert (report.delivered, report.deferred, again.attempted) == (2, 1, 0)
    assert len(receiver.calls) == 2
    deferred = await db.fetchrow("SELECT status, attempts, next_attempt_at - now() AS wait FROM notifications "
                                 "WHERE status <> 'delivered'")
    assert deferred["status"] == "pending" and deferred["attempts"] == 0
    assert timedelta(0) < deferred["wait"] <= timedelta(hours=1)
    assert svc.metrics.registry.get_sample_value("heatdesk_notifications_sent_total",
                                                 {"target": "webhook", "outcome": "rate_limited"}) == 1


async def test_undeliverable_notifications_end_in_the_dead_letter(service_env, db):
    async with Receiver(statuses=[410, 500, 500]) as receiver:
        svc = notify(service_env, HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url, HEATDESK_NOTIFY_MAX_ATTEMPTS="2")
        (gone,) = await insert(db, "webhook")
        async with Running(svc):
            first = await svc.deliver_once()  # 410 Gone: permanent, no retry
            (flaky,) = await insert(db, "webhook")
            second = await svc.deliver_once()  # 500: retried later
            await db.execute("UPDATE notifications SET next_attempt_at = now() WHERE status = 'pending'")
            third = await svc.deliver_once()  # 500 again: the last attempt
            await svc.refresh_gauges()
            registry = svc.metrics.registry
    assert (first.failed, second.retried, third.failed) == (1, 1, 1)
    rows = {r["dedupe_key"]: (r["status"], r["attempts"]) for r in
            await db.fetch("SELECT dedupe_key, status, attempts FROM notifications")}
    assert rows == {gone: ("failed", 1), flaky: ("failed", 2)}
    assert receiver.calls == []
    assert registry.get_sample_value("heatdesk_notifications_undeliverable", {"target": "webhook"}) == 2
    assert registry.get_sample_value("heatdesk_notifications_sent_total", {"target": "webhook", "outcome": "failed"}) == 2
