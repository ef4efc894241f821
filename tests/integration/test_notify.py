"""notify against the real broker and PostgreSQL, on wall time: timers armed from case events, fired once, delivered once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.envelope import Event
from services.common.ids import uuid7
from services.common.slapolicy import KINDS
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import CASE_EVENTS, SLA_ALERTS, EventType
from services.notify.app import NotifyService
from services.notify.settings import NotifySettings
from tests.integration.test_notify_helpers import Receiver
from tests.support import (
    Running,
    events,
    metric_sum,
    produce_events,
    read_topic,
    scrape_metrics,
    validate_event,
    wait_for,
)

pytestmark = pytest.mark.integration


def opened_event(due_in_s: float, priority: str = "critical", department: str = "billing") -> Event:
    case_id = uuid7()
    now = utcnow()
    case = {"id": case_id, "status": "open", "department": department, "priority": priority, "priority_score": 80,
            "channel": "x", "sla_policy": "default", "opened_at": format_rfc3339(now),
            "last_mention_at": format_rfc3339(now),
            "first_response_due_at": format_rfc3339(now + timedelta(seconds=due_in_s)),
            "first_response_at": None, "mention_count": 1,
            "author": {"id": "cust-1", "handle": "@c", "name": "C", "followers": 10, "verified": False}}
    return Event(type=EventType.CASE_OPENED, source="test", key=case_id, subject=case_id,
                 data={"case": case, "mention_id": "4a8f8caf-1209-5919-8542-a6d933509d09",
                       "occurred_at": format_rfc3339(now)})


def _service(service_env: dict[str, str], webhook: str, **extra: str) -> NotifyService:
    env = {**service_env, "HEATDESK_NOTIFY_PORT": str(free_port()), "HEATDESK_NOTIFY_WEBHOOK_URL": webhook,
           "HEATDESK_NOTIFY_SCAN_INTERVAL_S": "0.2", **extra}
    return NotifyService(loader.load(NotifySettings, env))


def _for(case_id: str):
    def holds(records) -> bool:
        return {e.data["threshold"] for e in events(records) if e.data["case_id"] == case_id} >= {
            "breach", "head_of_department"}
    return holds


async def test_due_timer_fires_once_across_replicas_and_webhook_gets_one_call(service_env, broker, db):
    # Route stamped a one-second deadline: breach after 1 s, the head-of-department step at twice that.
    due, later = opened_event(1.0), opened_event(3600)
    await produce_events(broker.bootstrap, CASE_EVENTS, [due, due, later])  # a redelivered case.opened too
    async with Receiver() as receiver:
        # Two replicas in one group: both scan the same table.
        async with Running(_service(service_env, receiver.url)), Running(_service(service_env, receiver.url)):
            alerts = await read_topic(broker.bootstrap, SLA_ALERTS, until=_for(due.key), settle=1.5)
            await wait_for(lambda: len(receiver.calls) >= 1)
            await asyncio.sleep(1.0)  # several more scan and delivery rounds of both replicas
    assert await db.fetchval("SELECT count(*) FROM sla_timers WHERE kind = 'first_response'") == 2
    fired = events(alerts)
    for alert in fired:
        validate_event(alert)
    assert sorted(e.data["threshold"] for e in fired) == ["breach", "head_of_department"]
    assert all(e.type == EventType.SLA_BREACHED and e.data["case_id"] == due.key for e in fired)
    # The breach pages the team lead and (critical, public) PR: both reach the one webhook, once.
    # The head of department has no target in the shipped policies: the step is an alert only.
    assert len(receiver.calls) == 1
    assert receiver.calls[0]["heatdesk"]["case_id"] == due.key and "SLA breach" in receiver.calls[0]["text"]
    assert receiver.keys == [f"{due.key}:first_response:0:breach:webhook"]
    states = dict(await db.fetch("SELECT case_id::text, state FROM sla_timers WHERE kind = 'first_response'"))
    assert states == {due.key: "fired", later.key: "armed"}


async def test_failing_webhook_is_retried_with_backoff(service_env, broker, db):
    await produce_events(broker.bootstrap, CASE_EVENTS, [opened_event(0.5)])
    async with Receiver(statuses=[500, 503]) as receiver:
        svc = _service(service_env, receiver.url)
        async with Running(svc):
            await wait_for(lambda: len(receiver.calls) == 1, timeout=30)
    row = await db.fetchrow("SELECT status, attempts FROM notifications")
    assert row["status"] == "delivered" and row["attempts"] == 3


async def test_breach_counters_exist_at_zero_for_departments_with_open_cases(service_env, broker, db):
    """A department's first breach must be an increase `increase()` can see (HeatdeskSLABreaches),
    so every replica exports its warning and breach counters at zero once it has open cases."""
    svc = _service(service_env, "", HEATDESK_NOTIFY_GAUGES_INTERVAL_S="0.2")
    url = f"http://127.0.0.1:{svc.settings.notify_port}/metrics"

    def breaches(metrics: dict, department: str, kind: str = "first_response") -> float | None:
        return metrics.get(("heatdesk_sla_breaches_total", frozenset({("department", department), ("kind", kind)})))

    async with Running(svc):
        assert metric_sum(await scrape_metrics(url), "heatdesk_sla_breaches_total") == 0  # no open case: no series
        await produce_events(broker.bootstrap, CASE_EVENTS, [opened_event(3.0, department="product")])
        armed = await wait_for(lambda: scrape_metrics(url, lambda m: breaches(m, "product") is not None))
        assert breaches(armed, "product") == 0  # exported before the breach...
        for kind in KINDS:
            assert breaches(armed, "product", kind) == 0
            assert armed[("heatdesk_sla_warnings_total", frozenset({("department", "product"), ("kind", kind)}))] == 0
        fired = await wait_for(lambda: scrape_metrics(url, lambda m: breaches(m, "product")), timeout=30)
    assert breaches(fired, "product") == 1  # ...so the breach is 0 -> 1
