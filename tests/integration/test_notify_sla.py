"""SLA clocks end to end inside notify, on a controllable clock, against the real broker and PostgreSQL.

Each test publishes case lifecycle events as route does, lets notify apply them, then moves
a ManualClock and runs the scanner and the delivery loop itself: what fired is read back
from `sla_steps`, `sla.alerts.v1`, the webhook receiver and the SMTP server.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.common.clock import ManualClock
from services.common.envelope import Event
from services.common.ids import uuid7
from services.common.timeutil import format_rfc3339
from services.common.topics import CASE_EVENTS, SLA_ALERTS, EventType
from tests.integration.test_notify_helpers import (
    OFFICE,
    Receiver,
    SmtpSink,
    applied,
    case_event,
    human_reply,
    notify,
    steps,
)
from tests.support import Running, events, produce_events, read_topic, validate_event

pytestmark = pytest.mark.integration

FRI_4PM = datetime(2026, 1, 30, 16, 0, tzinfo=UTC)  # London office: one business hour left on Friday
MON = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)


def at_least(n: int):
    return lambda records: len(records) >= n


async def deliver_all(*services) -> None:
    while True:
        reports = await asyncio.gather(*(s.deliver_once() for s in services))
        if not any(r.attempted for r in reports):
            return


async def test_next_response_clock_after_a_customer_follow_up(service_env, broker, db):
    clock = ManualClock(FRI_4PM)
    case_id = uuid7()
    t1, mon_10 = FRI_4PM + timedelta(minutes=20), MON + timedelta(hours=10)
    lifecycle = [
        case_event(EventType.CASE_OPENED, case_id, FRI_4PM, FRI_4PM, channel="email", public=False, sla_policy="office"),
        case_event(EventType.CASE_RESPONDED, case_id, FRI_4PM, t1, response=human_reply(t1, first=True),
                   status="pending", channel="email", public=False, sla_policy="office",
                   first_response_at=format_rfc3339(t1), last_response_at=format_rfc3339(t1)),
        case_event(EventType.CASE_MENTION_ADDED, case_id, FRI_4PM, mon_10, status="open", channel="email",
                   public=False, sla_policy="office", mention_count=2, first_response_at=format_rfc3339(t1)),
        # An assignment through route's case API changes no clock (and is not dead-lettered).
        case_event("com.heatdesk.case.assigned.v1", case_id, FRI_4PM, mon_10 + timedelta(minutes=1), status="open",
                   channel="email", public=False, sla_policy="office", mention_count=2,
                   first_response_at=format_rfc3339(t1)),
    ]
    lifecycle[-1].data["assignee"] = "agent-7"
    for event in lifecycle:
        validate_event(event)
    async with Running(notify(service_env, clock, HEATDESK_SLA_POLICIES_PATH=str(OFFICE),
                              HEATDESK_NOTIFY_MEASURE_SETTLE_S="0")) as svc:
        await produce_events(broker.bootstrap, CASE_EVENTS, lifecycle)
        await applied(db, 4)
        clock.set(MON + timedelta(hours=11, minutes=59))
        await svc.scan_once()
        assert await steps(db) == [(case_id, "next_response", 0, "reassign_idle"),
                                   (case_id, "next_response", 0, "warn_50"),
                                   (case_id, "next_response", 0, "remind_15m")]
        clock.set(MON + timedelta(hours=12))
        await svc.scan_once()
        alerts = events(await read_topic(broker.bootstrap, SLA_ALERTS, until=at_least(4)))
        metrics = svc.metrics.registry
    assert (await steps(db))[-1] == (case_id, "next_response", 0, "breach")
    for alert in alerts:
        validate_event(alert)
    breach = next(a for a in alerts if a.data["threshold"] == "breach")
    assert breach.data["timer"] == "next_response" and breach.data["started_at"] == format_rfc3339(mon_10)
    assert breach.data["due_at"] == "2026-02-02T12:00:00Z"  # two business hours after the follow-up
    reassign = next(a for a in alerts if a.data["threshold"] == "reassign_idle")
    assert reassign.data["action"] == "reassign" and reassign.data["level"] == "rule"
    first = await db.fetchrow("SELECT state, outcome, latency_s FROM sla_timers WHERE kind = 'first_response'")
    assert dict(first) == {"state": "stopped", "outcome": "met", "latency_s": 1200.0}
    autoclose = await db.fetchrow("SELECT state, outcome FROM sla_timers WHERE kind = 'autoclose'")
    assert dict(autoclose) == {"state": "stopped", "outcome": "cancelled"}  # the customer wrote back in time
    resolution = await db.fetchrow("SELECT state, elapsed_s, resumed_at FROM sla_timers WHERE kind = 'resolution'")
    assert resolution["state"] == "armed" and resolution["elapsed_s"] == 1200 and resolution["resumed_at"] == mon_10
    labels = {"department": "billing", "channel": "email", "priority": "high"}
    assert metrics.get_sample_value("heatdesk_first_response_seconds_sum", labels) == 1200
    assert metrics.get_sample_value("heatdesk_first_response_seconds_count", labels) == 1


async def test_escalation_chain_pages_each_step_once_by_webhook_and_email(service_env, broker, db):
    start = MON + timedelta(hours=9)
    clock = ManualClock(start)
    case_id = uuid7()
    opened = case_event(EventType.CASE_OPENED, case_id, start, start, priority="critical", sla_policy="office")
    with SmtpSink() as smtp:
        async with Receiver() as receiver:
            env = {"HEATDESK_SLA_POLICIES_PATH": str(OFFICE), "HEATDESK_NOTIFY_WEBHOOK_URL": receiver.url,
                   "HEATDESK_NOTIFY_SMTP_HOST": "127.0.0.1", "HEATDESK_NOTIFY_SMTP_PORT": str(smtp.port),
                   "HEATDESK_NOTIFY_SMTP_FROM": "heatdesk@acme.example"}
            async with Running(notify(service_env, clock, **env)) as svc:
                await produce_events(broker.bootstrap, CASE_EVENTS, [opened])
                await applied(db, 1)
                for minutes in (30, 45, 60, 90, 120, 180):
                    clock.set(start + timedelta(minutes=minutes))
                    await svc.scan_once()
                    await svc.scan_once()  # a second round at the same time finds nothing new
                    await deliver_all(svc)
                alerts = events(await read_topic(broker.bootstrap, SLA_ALERTS, until=at_least(5)))
                metrics = svc.metrics.registry
    assert sorted(a.data["threshold"] for a in alerts) == sorted(
        ["reassign_idle", "warn_50", "remind_15m", "breach", "head_of_department"])
    assert len({a.id for a in alerts}) == 5
    prefix = f"{case_id}:first_response:0:"
    assert receiver.keys == [prefix + "reassign_idle:webhook", prefix + "remind_15m:webhook", prefix + "breach:webhook"]
    mail = [(rcpt, msg["X-Heatdesk-Idempotency-Key"].removeprefix(prefix)) for rcpt, msg in smtp.messages]
    assert sorted(mail) == sorted([
        (["lead@example.com"], "reassign_idle:email:lead@example.com"),
        (["lead@example.com"], "breach:email:lead@example.com"),
        (["pr@example.com"], "breach:email:pr@example.com"),  # critical and public: PR joins at the breach
        (["billing-head@example.com"], "head_of_department:email:billing-head@example.com"),
    ])
    breach_mail = next(msg for _, msg in smtp.messages if msg["To"] == "pr@example.com")
    assert breach_mail["Subject"] == "[Heatdesk] SLA breach: first response, critical billing case on x"
    assert breach_mail["From"] == "heatdesk@acme.example" and case_id in breach_mail.get_content()
    assert {r["status"] for r in await db.fetch("SELECT status FROM notifications")} == {"delivered"}
    assert await db.fetchval("SELECT count(*) FROM notifications") == 7
    assert metrics.get_sample_value("heatdesk_sla_escalations_total", {
        "department": "billing", "kind": "first_response", "step": "head_of_department"}) == 1
    assert metrics.get_sample_value("heatdesk_sla_warnings_total", {
        "department": "billing", "kind": "first_response"}) == 2
    assert metrics.get_sample_value("heatdesk_sla_actions_total", {"department": "billing", "action": "reassign"}) == 1
    assert metrics.get_sample_value("heatdesk_notifications_sent_total", {"target": "email", "outcome": "delivered"}) == 4


async def test_each_step_fires_once_across_a_restart_and_two_replicas(service_env, broker, db):
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    cases = [uuid7() for _ in range(3)]
    opened = [case_event(EventType.CASE_OPENED, c, t0, t0, priority="critical") for c in cases]
    async with Receiver() as receiver:
        env = {"HEATDESK_NOTIFY_WEBHOOK_URL": receiver.url}
        first = notify(service_env, ManualClock(t0 + timedelta(minutes=8)), **env)
        async with Running(first):
            await produce_events(broker.bootstrap, CASE_EVENTS, opened)
            await applied(db, 3)
            await first.scan_once()  # warn_50 of each case (7.5 min of a 15 min target)
        # The replica is replaced; its successor fires the breach but dies before delivering it.
        second = notify(service_env, ManualClock(t0 + timedelta(minutes=16)), **env)
        async with Running(second):
            await produce_events(broker.bootstrap, CASE_EVENTS, opened)  # redelivered as after a crash
            await second.scan_once()
            await second.scan_once()
        assert await db.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'") == 3
        # Two replicas now scan and deliver at the same moment, twice over.
        clocks = [ManualClock(t0 + timedelta(minutes=31)) for _ in range(2)]
        replicas = [notify(service_env, c, **env) for c in clocks]
        async with Running(replicas[0]), Running(replicas[1]):
            for _ in range(2):
                await asyncio.gather(*(r.scan_once() for r in replicas))
                await deliver_all(*replicas)
            alerts = events(await read_topic(broker.bootstrap, SLA_ALERTS, until=at_least(12), settle=1.0))
    fired = Counter((s[0], s[3]) for s in await steps(db))
    assert fired == Counter({(c, step): 1 for c in cases for step in ("warn_50", "warn_80", "breach",
                                                                       "head_of_department")})
    assert Counter((a.data["case_id"], a.data["threshold"]) for a in alerts) == fired
    assert sorted(receiver.keys) == sorted(f"{c}:first_response:0:breach:webhook" for c in cases)
    rows = await db.fetch("SELECT status, attempts FROM notifications")
    assert [tuple(r) for r in rows] == [("delivered", 1)] * 3


async def test_a_week_waiting_on_the_customer_asks_route_to_close(service_env, broker, db):
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    clock = ManualClock(t0)
    case_id = uuid7()
    t1 = t0 + timedelta(minutes=5)
    lifecycle = [case_event(EventType.CASE_OPENED, case_id, t0, t0, priority="normal"),
                 case_event(EventType.CASE_RESPONDED, case_id, t0, t1, response=human_reply(t1, first=True),
                            status="pending", first_response_at=format_rfc3339(t1))]
    async with Running(notify(service_env, clock)) as svc:
        await produce_events(broker.bootstrap, CASE_EVENTS, lifecycle)
        await applied(db, 2)
        clock.set(t1 + timedelta(days=7) - timedelta(seconds=1))
        await svc.scan_once()
        assert await steps(db) == []
        clock.set(t1 + timedelta(days=7))
        await svc.scan_once()
        (alert,) = events(await read_topic(broker.bootstrap, SLA_ALERTS, until=at_least(1)))
    validate_event(alert)
    assert alert.data["threshold"] == "autoclose" and alert.data["action"] == "autoclose"
    assert alert.data["timer"] == "resolution" and alert.data["clock"] == "autoclose"
    assert alert.data["step_due_at"] == format_rfc3339(t1 + timedelta(days=7))
    states = dict(await db.fetch("SELECT kind, state FROM sla_timers"))
    assert states == {"first_response": "stopped", "resolution": "paused", "autoclose": "fired"}


async def test_event_time_mode_fires_what_live_traffic_fired_whatever_the_wall_clock(service_env, broker, db):
    # Historic traffic replayed years later: only the events' own times decide.
    t0 = datetime(2017, 10, 30, 10, 0, tzinfo=UTC)
    answered, ignored, later = uuid7(), uuid7(), uuid7()

    def keyed(event: Event) -> Event:  # one partition, so the watermark is the newest event
        return Event(type=event.type, source=event.source, key="replay", subject=event.subject, data=event.data,
                     id=event.id)

    t_reply = t0 + timedelta(minutes=10)
    batch = [case_event(EventType.CASE_OPENED, answered, t0, t0, priority="critical"),
             case_event(EventType.CASE_OPENED, ignored, t0 + timedelta(minutes=5), t0 + timedelta(minutes=5),
                        priority="critical"),
             case_event(EventType.CASE_RESPONDED, answered, t0, t_reply, response=human_reply(t_reply, first=True),
                        status="pending", priority="critical"),
             case_event(EventType.CASE_OPENED, later, t0 + timedelta(minutes=30), t0 + timedelta(minutes=30))]
    async with Running(notify(service_env, HEATDESK_NOTIFY_CLOCK="event")) as svc:
        await produce_events(broker.bootstrap, CASE_EVENTS, [keyed(e) for e in batch])
        await applied(db, 4)
        await svc.scan_once()
        assert await steps(db) == [(ignored, "first_response", 0, "warn_50"), (ignored, "first_response", 0, "warn_80"),
                                   (ignored, "first_response", 0, "breach")]
        tick = case_event(EventType.CASE_MENTION_ADDED, later, t0 + timedelta(minutes=30), t0 + timedelta(minutes=36),
                          mention_count=2)
        await produce_events(broker.bootstrap, CASE_EVENTS, [keyed(tick)])
        await applied(db, 5)
        await svc.scan_once()
    assert (await steps(db))[-1] == (ignored, "first_response", 0, "head_of_department")  # 30 min after 10:05
    fired_at = await db.fetchval("SELECT max(fired_at) FROM sla_steps")
    assert fired_at == t0 + timedelta(minutes=36)


async def test_steps_long_overdue_when_first_read_are_published_but_page_nobody(service_env, broker, db):
    # A first deployment reads a month of case events: last week's breaches are history, not pages.
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    old, fresh = uuid7(), uuid7()
    lifecycle = [case_event(EventType.CASE_OPENED, old, t0 - timedelta(days=3), t0 - timedelta(days=3),
                            priority="critical"),
                 case_event(EventType.CASE_OPENED, fresh, t0 - timedelta(minutes=20), t0 - timedelta(minutes=20),
                            priority="critical")]
    async with Receiver() as receiver:
        async with Running(notify(service_env, ManualClock(t0), HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url)) as svc:
            await produce_events(broker.bootstrap, CASE_EVENTS, lifecycle)
            await applied(db, 2)
            await svc.scan_once()
            await deliver_all(svc)
            alerts = events(await read_topic(broker.bootstrap, SLA_ALERTS, until=at_least(5)))
    breaches = {a.data["case_id"]: a.data for a in alerts if a.data["threshold"] == "breach"}
    assert breaches[old]["stale"] is True and breaches[old]["targets"] == []
    assert "stale" not in breaches[fresh] and breaches[fresh]["targets"] == ["webhook"]
    assert receiver.keys == [f"{fresh}:first_response:0:breach:webhook"]
