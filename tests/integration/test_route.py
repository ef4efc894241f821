"""route against the real broker and PostgreSQL: cases, threading, outbox, idempotent redelivery."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.classify.pipeline.classifier import Classifier
from services.common import settings as loader
from services.common.db import split_database
from services.common.embedded import free_port
from services.common.envelope import Event
from services.common.timeutil import format_rfc3339, parse_rfc3339, utcnow
from services.common.topics import CASE_EVENTS, MENTIONS_CLASSIFIED, EventType, department_topic
from services.ingest.channels.generic import parse_generic_mention
from services.route.app import RouteService
from services.route.settings import RouteSettings
from tests.support import Running, count_at_least, events, mention_body, produce_events, read_topic, validate_event, wait_for

pytestmark = pytest.mark.integration
_classifier = Classifier()


def classified_event(external_id: str, text: str, author_id: str = "cust-1", channel: str = "x",
                     created_at: str | None = None, **extra: str) -> Event:
    body = mention_body(external_id, text, author_id=author_id, channel=channel, created_at=created_at, **extra)
    mention = parse_generic_mention(body, utcnow())
    (classification,) = _classifier.classify([mention])
    return Event(type=EventType.MENTION_CLASSIFIED, source="test", key=f"{channel}:{author_id}",
                 subject=mention["id"], data={"mention": mention, "classification": classification})


def _service(service_env: dict[str, str], **extra: str) -> RouteService:
    env = {**service_env, "HEATDESK_ROUTE_PORT": str(free_port()), **extra}
    return RouteService(loader.load(RouteSettings, env))


async def test_complaint_opens_a_billing_case_with_a_deadline(service_env, broker, db):
    ev = classified_event("t-1", "@acme you charged me twice this month, refund me or I'm telling everyone")
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [ev])
    async with Running(_service(service_env, HEATDESK_SLA_FIRST_RESPONSE_TARGETS="critical=120,high=600")):
        routed = await read_topic(broker.bootstrap, department_topic("billing"), until=count_at_least(1))
        lifecycle = await read_topic(broker.bootstrap, CASE_EVENTS, until=count_at_least(1))
    case = await db.fetchrow("SELECT * FROM cases")
    assert case["department"] == "billing" and case["status"] == "open"
    created = parse_rfc3339(ev.data["mention"]["created_at"])
    target = 120 if case["priority"] == "critical" else 600
    assert case["first_response_due_at"] == created + timedelta(seconds=target)
    assert await db.fetchval("SELECT count(*) FROM mentions WHERE case_id = $1", case["id"]) == 1
    (routed_event,) = events(routed)
    (opened,) = events(lifecycle)
    for e in (routed_event, opened):
        validate_event(e)
        assert e.key == str(case["id"])
    assert routed_event.data["change"] == "opened" and routed_event.data["mention"]["raw"] is None
    assert opened.type == EventType.CASE_OPENED
    # The audit trail row is the published event.
    assert await db.fetchval("SELECT event_id::text FROM case_events WHERE case_id = $1", case["id"]) == opened.id
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_redelivered_mention_changes_nothing(service_env, broker, db):
    ev = classified_event("t-dup", "my order never arrived and nobody answers")
    redelivered = Event(type=ev.type, source=ev.source, key=ev.key, subject=ev.subject, data=ev.data)  # new ce_id
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [ev, ev, redelivered])
    svc = _service(service_env)
    async with Running(svc):
        await wait_for(lambda: svc.metrics.records_consumed.labels(svc.settings.route_group_id,
                                                                   MENTIONS_CLASSIFIED)._value.get() >= 3)
        lifecycle = await read_topic(broker.bootstrap, CASE_EVENTS, until=count_at_least(1), settle=1.0)
    assert await db.fetchval("SELECT count(*) FROM cases") == 1
    assert await db.fetchval("SELECT count(*) FROM mentions") == 1
    assert await db.fetchval("SELECT count(*) FROM case_events") == 1
    assert len(lifecycle) == 1  # one lifecycle event published for three deliveries
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0  # published rows are deleted


async def test_follow_ups_thread_into_the_open_case(service_env, broker, db):
    now = utcnow()
    first = classified_event("t-a", "where is my refund? charged twice", created_at=format_rfc3339(now))
    reply = classified_event("t-b", "hello?? still waiting", created_at=format_rfc3339(now + timedelta(minutes=5)),
                             in_reply_to="t-a")
    other_customer = classified_event("t-c", "app crashes on login", author_id="cust-2")
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [first, reply, other_customer])
    async with Running(_service(service_env)):
        lifecycle = await read_topic(broker.bootstrap, CASE_EVENTS, until=count_at_least(3))
    # The follow-up may also raise the case's priority (an escalation event): that depends on
    # the classifier's reading of "still waiting", not on threading.
    types = sorted(e.type for e in events(lifecycle) if e.type != EventType.CASE_ESCALATED)
    assert types == sorted([EventType.CASE_OPENED, EventType.CASE_MENTION_ADDED, EventType.CASE_OPENED])
    rows = await db.fetch("SELECT conversation_key, mention_count FROM cases ORDER BY conversation_key")
    assert [(r["conversation_key"], r["mention_count"]) for r in rows] == [("x:cust-1", 2), ("x:cust-2", 1)]


async def test_database_down_means_not_ready_and_retry_without_loss(service_env, broker, database):
    ev = classified_event("t-db", "refund me now")
    admin_dsn, name = split_database(database)
    admin = await asyncpg.connect(admin_dsn)
    svc = _service(service_env)
    try:
        async with Running(svc):
            # Take the database away under route's feet: refuse and cut its connections.
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
            await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [ev])
            await wait_for(lambda: not svc.loop.healthy, timeout=20)
            ready, detail = await svc.loop.readiness()
            assert not ready, detail
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            await read_topic(broker.bootstrap, CASE_EVENTS, until=count_at_least(1), timeout=30)
            assert svc.loop.healthy
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM cases") == 1
    finally:
        await conn.close()
