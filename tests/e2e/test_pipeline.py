"""End to end: the four services as separate processes on the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest

from services.common.envelope import header_map
from services.common.topics import CASE_EVENTS, MENTIONS_RAW, SLA_ALERTS, EventType, department_topic
from tests.e2e.conftest import Stack
from tests.support import events, mention_body, metric_sum, parse_metrics, produce, read_topic, validate_event, wait_for

pytestmark = pytest.mark.e2e

COMPLAINT = "@acme you charged me twice this month, refund me or I'm telling everyone"


async def scrape(http: aiohttp.ClientSession, stack: Stack, service: str) -> dict:
    async with http.get(stack.url(service, "/metrics")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return parse_metrics(await resp.text())


async def test_complaint_becomes_a_billing_case_that_breaches_its_sla_once(stack: Stack):
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url("ingest", "/v1/mentions"),
                             json=mention_body("e2e-1", COMPLAINT, author_id="jo-1", followers=420)) as resp:
            assert resp.status == 202, await resp.text()
            mention_id = (await resp.json())["id"]

        def mentions_case(records):
            return any(e.data["mention"]["id"] == mention_id for e in events(records))

        routed = await read_topic(stack.bootstrap, department_topic("billing"), until=mentions_case)
        (case_record,) = [e for e in events(routed) if e.data["mention"]["id"] == mention_id]
        validate_event(case_record)
        case_id = case_record.data["case"]["id"]
        assert case_record.data["classification"]["department"] == "billing"
        assert "escalation_threat" in case_record.data["classification"]["flags"]

        conn = await asyncpg.connect(stack.database)
        try:
            rows = await conn.fetch("SELECT c.id::text, c.first_response_due_at, c.opened_at FROM cases c "
                                    "JOIN mentions m ON m.case_id = c.id WHERE m.id = $1", mention_id)
            assert len(rows) == 1 and rows[0]["id"] == case_id
            assert (rows[0]["first_response_due_at"] - rows[0]["opened_at"]).total_seconds() == 2
        finally:
            await conn.close()

        alerts = await read_topic(stack.bootstrap, SLA_ALERTS,
                                  until=lambda rs: any(e.data["case_id"] == case_id for e in events(rs)))
        breaches = [e for e in events(alerts) if e.data["case_id"] == case_id]
        assert len(breaches) == 1 and breaches[0].type == EventType.SLA_BREACHED
        validate_event(breaches[0])

        def webhook_calls():
            return [c for c in stack.receiver.calls if c["body"]["heatdesk"]["case_id"] == case_id]

        await wait_for(webhook_calls, timeout=20)
        await asyncio.sleep(1.5)  # several more scanner and delivery rounds: still one call
        assert len(webhook_calls()) == 1

        ingest, classify, route, notify = [await scrape(http, stack, s) for s in ("ingest", "classify", "route",
                                                                                   "notify")]
        assert metric_sum(ingest, "heatdesk_mentions_ingested_total", channel="x") >= 1
        assert metric_sum(classify, "heatdesk_mentions_classified_total", department="billing") >= 1
        assert metric_sum(classify, "heatdesk_pipeline_latency_seconds_count", stage="classify") >= 1
        assert metric_sum(route, "heatdesk_cases_opened_total", department="billing") >= 1
        assert metric_sum(route, "heatdesk_pipeline_latency_seconds_count", stage="route") >= 1
        assert metric_sum(notify, "heatdesk_sla_timers_armed_total") >= 1
        assert metric_sum(notify, "heatdesk_sla_breaches_total", department="billing", kind="first_response") >= 1
        assert metric_sum(notify, "heatdesk_notifications_sent_total", target="webhook", outcome="delivered") >= 1
        for metrics in (ingest, classify, route, notify):
            assert metric_sum(metrics, "process_resident_memory_bytes") > 0


async def test_redelivered_mention_still_makes_one_case(stack: Stack):
    body = mention_body("e2e-dup", "my parcel never arrived, where is it?", author_id="jo-2")
    async with aiohttp.ClientSession() as http:
        ids = set()
        for _ in range(3):  # a webhook retried by the platform delivers the same post again
            async with http.post(stack.url("ingest", "/v1/mentions"), json=body) as resp:
                assert resp.status == 202
                ids.add((await resp.json())["id"])
    (mention_id,) = ids
    raw = await read_topic(stack.bootstrap, MENTIONS_RAW,
                           until=lambda rs: any(e.data["id"] == mention_id for e in events(rs)))
    original = [r for r in raw if events([r])[0].data["id"] == mention_id]
    assert len(original) == 1  # ingest answered the retries from memory
    # The broker redelivers it twice more (as after a consumer crash before its commit).
    await produce(stack.bootstrap, MENTIONS_RAW, [(original[0].key, original[0].value, list(original[0].headers))] * 2)

    conn = await asyncpg.connect(stack.database)
    try:
        async def routed() -> bool:
            return await conn.fetchval("SELECT count(*) FROM mentions WHERE id = $1", mention_id) == 1

        await wait_for(routed)
        lifecycle = await read_topic(stack.bootstrap, CASE_EVENTS, until=lambda rs: any(
            e.data.get("mention_id") == mention_id for e in events(rs)), settle=3.0)
        assert sum(e.data.get("mention_id") == mention_id for e in events(lifecycle)) == 1
        assert await conn.fetchval("SELECT count(*) FROM cases c JOIN authors a ON a.id = c.author_id "
                                   "WHERE a.external_id = 'jo-2'") == 1
    finally:
        await conn.close()
    async with aiohttp.ClientSession() as http:
        route = await scrape(http, stack, "route")
    assert metric_sum(route, "heatdesk_mentions_routed_total", outcome="duplicate") >= 2


async def test_malformed_mention_gets_problem_json_and_nothing_is_published(stack: Stack):
    bad = mention_body("e2e-bad", "", author_id="jo-3")  # empty text
    bad["author"]["followers"] = "lots"
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url("ingest", "/v1/mentions"), json=bad) as resp:
            assert resp.status == 422
            assert resp.content_type == "application/problem+json"
            problem = await resp.json(content_type=None)
        pointers = sorted(e["pointer"] for e in problem["errors"])
        assert pointers == ["/author/followers", "/text"]
        async with http.post(stack.url("ingest", "/v1/mentions"), data=b"{oops",
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400 and resp.content_type == "application/problem+json"
        async with http.post(stack.url("ingest", "/v1/mentions"),
                             json=mention_body("e2e-sentinel", "thanks for the help!", author_id="jo-3")) as resp:
            sentinel = (await resp.json())["id"]
    raw = await read_topic(stack.bootstrap, MENTIONS_RAW,
                           until=lambda rs: any(e.data["id"] == sentinel for e in events(rs)), settle=1.0)
    assert not [r for r in raw if b"e2e-bad" in r.value]
    assert all(header_map(r.headers)["ce_type"] == EventType.MENTION_RECEIVED.encode() for r in raw)


async def test_every_event_the_pipeline_produced_matches_its_published_schema(stack: Stack):
    """Runs last in this module: whatever the tests above made flow, every record validates."""
    from services.common.schemas import SCHEMA_FILES
    from services.common.topics import all_topics

    checked = 0
    for spec in all_topics():
        try:
            records = await read_topic(stack.bootstrap, spec.name, until=lambda rs: len(rs) > 0, timeout=2,
                                       settle=0.3)
        except AssertionError:
            continue  # nothing flowed on this topic
        for event in events([r for r in records if header_map(r.headers).get("ce_type", b"").decode()
                             in SCHEMA_FILES]):
            validate_event(event)
            checked += 1
    assert checked >= 10
