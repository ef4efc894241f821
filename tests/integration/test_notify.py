"""notify against the real broker and PostgreSQL: timers armed from case events, fired once, delivered once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp import web

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.envelope import Event
from services.common.ids import uuid7
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import CASE_EVENTS, SLA_ALERTS, EventType
from services.notify.app import NotifyService
from services.notify.settings import NotifySettings
from tests.support import Running, count_at_least, events, produce_events, read_topic, validate_event, wait_for

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook receiver the test runs: records calls, can fail the first N."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict] = []
        self.keys: list[str] = []
        self.fail_first = fail_first
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handler(self, request: web.Request) -> web.Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        self.calls.append(await request.json())
        self.keys.append(request.headers.get("Idempotency-Key", ""))
        return web.Response(text="ok")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


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


async def test_due_timer_fires_once_across_replicas_and_webhook_gets_one_call(service_env, broker, db):
    due, later = opened_event(1.0), opened_event(3600)
    await produce_events(broker.bootstrap, CASE_EVENTS, [due, due, later])  # a redelivered case.opened too
    async with Receiver() as receiver:
        # Two replicas in one group: both scan the same table.
        async with Running(_service(service_env, receiver.url)), Running(_service(service_env, receiver.url)):
            alerts = await read_topic(broker.bootstrap, SLA_ALERTS, until=count_at_least(1), settle=2.0)
            await wait_for(lambda: len(receiver.calls) >= 1)
            await asyncio.sleep(1.0)  # several more scan and delivery rounds of both replicas
    assert await db.fetchval("SELECT count(*) FROM sla_timers") == 2
    (alert,) = events(alerts)
    validate_event(alert)
    assert alert.type == EventType.SLA_BREACHED and alert.data["case_id"] == due.key
    assert len(receiver.calls) == 1
    assert receiver.calls[0]["heatdesk"]["case_id"] == due.key and "SLA breach" in receiver.calls[0]["text"]
    assert receiver.keys == [f"{due.key}:first_response:breach:webhook"]
    states = dict(await db.fetch("SELECT case_id::text, state FROM sla_timers"))
    assert states == {due.key: "fired", later.key: "armed"}


async def test_failing_webhook_is_retried_with_backoff(service_env, broker, db):
    await produce_events(broker.bootstrap, CASE_EVENTS, [opened_event(0.5)])
    async with Receiver(fail_first=2) as receiver:
        svc = _service(service_env, receiver.url)
        async with Running(svc):
            await wait_for(lambda: len(receiver.calls) == 1, timeout=30)
    row = await db.fetchrow("SELECT status, attempts FROM notifications")
    assert row["status"] == "delivered" and row["attempts"] == 3
