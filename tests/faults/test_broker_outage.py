"""The broker unavailable at start and in the middle of a stream.

Every client reaches the broker through a proxy (the broker advertises the proxy's port,
so bootstrap and partition-leader connections alike go through it); `cut()` refuses new
connections and resets the open ones, `resume()` brings the broker back with its memory
(topics, offsets, groups) intact, as a broker restart on persistent storage would.

- At start: every service waits (retrying with backoff) instead of exiting, and starts
  working once the broker answers.
- Mid-stream: ingest answers 503 with Retry-After while it cannot get acknowledgements,
  and everything it answered 202 for - before, during and after - ends up routed once;
  the consumers reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest

from tests.brokers import requires_kafka
from tests.faults.load import Poster, WebhookSink, mentions
from tests.faults.stack import CONSUMERS, SERVICES, FaultStack
from tests.faults.verify import Audit, audit
from tests.support import mention_body

pytestmark = pytest.mark.integration

MENTIONS = 1_200
DOWN_AT_START_S = 5.0
OUTAGE_S = 8.0


async def back_and_audited(stack: FaultStack, poster: Poster, sink: WebhookSink,
                           bring_back: Callable[[], None]) -> tuple[Audit, float, float]:
    """Bring the broker back; once route consumes again and every post is answered, audit.

    Returns the audit and, in seconds after `bring_back`, ingest's next 202 and route's first
    record: the consumers must reconnect by themselves.
    """
    route = stack.one("route")
    consumed_before = await route.consumed()
    bring_back()
    back_at = time.monotonic()
    deadline = back_at + 60
    while await route.consumed() == consumed_before:
        assert time.monotonic() < deadline, f"route consumes nothing since the broker came back:\n{route.tail()}"
        await asyncio.sleep(0.1)
    route_back = time.monotonic() - back_at
    await poster.wait(timeout=180)
    ingest_back = min(t for t, status in poster.log if status == 202 and t > back_at) - back_at
    db = await stack.db()
    try:
        result = await audit(db, stack.bootstrap, poster, sink, timeout=120)
    finally:
        await db.close()
    return result, ingest_back, route_back


async def test_broker_down_at_start_and_mid_stream(fault_stack, fault_report):
    sink = WebhookSink().start()
    try:
        stack = await fault_stack(kafka_proxy=True, env={"HEATDESK_NOTIFY_WEBHOOK_URL": sink.url})
        proxy = stack.kafka_proxy
        assert proxy is not None
        # -- down at start ---------------------------------------------------------------------
        proxy.cut()
        down_at = time.monotonic()
        await stack.start(wait=False)
        for service in CONSUMERS:  # their probes answer while they wait for the broker
            proc = stack.one(service)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await proc.get("/healthz"))[0] == 200:
                        break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                assert time.monotonic() < deadline and proc.alive, proc.tail()
                await asyncio.sleep(0.1)
        await asyncio.sleep(max(0.0, down_at + DOWN_AT_START_S - time.monotonic()))
        for service in SERVICES:
            assert stack.one(service).alive, f"{service} gave up while the broker was down:\n{stack.one(service).tail()}"
        assert "broker unreachable, retrying" in stack.one("ingest").tail(20_000)
        proxy.resume()
        resumed_at = time.monotonic()
        await asyncio.gather(*(stack.one(s).wait_ready(timeout=60) for s in SERVICES))
        start_recovery = time.monotonic() - resumed_at

        # -- down mid-stream -------------------------------------------------------------------
        ingest = stack.one("ingest")
        poster = Poster(lambda: ingest.url(""), mentions(MENTIONS, 300, "bk"), concurrency=8, rate_per_s=100).start()
        await poster.wait_accepted(300)
        proxy.cut()
        cut_at = time.monotonic()
        deadline = time.monotonic() + 15
        while await ingest.ready():
            assert time.monotonic() < deadline, "ingest still ready without a broker"
            await asyncio.sleep(0.1)
        await asyncio.sleep(max(0.0, cut_at + OUTAGE_S - time.monotonic()))
        refused_during = sum(1 for t, status in poster.log if status == 503 and t > cut_at)
        accepted_during = sum(1 for t, status in poster.log if status == 202 and t > cut_at + 3.5)
        result, ingest_back, route_back = await back_and_audited(stack, poster, sink, proxy.resume)

        assert refused_during > 0  # 503 while it could not get acknowledgements (with Retry-After: Poster checks)
        assert accepted_during == 0  # nothing answered 202 without an acknowledgement
        assert all(o.mention_id for o in poster.outcomes.values())  # every refused post was accepted on retry
        for service in SERVICES:
            assert stack.one(service).alive
        fault_report(fault=f"broker unavailable at start ({DOWN_AT_START_S:.0f}s)", sent=0, lost=0, duplicated=0,
                     recovery_s=round(start_recovery, 2),
                     note="every service waited (retrying) and was ready this long after the broker answered")
        fault_report(fault=f"broker unavailable {OUTAGE_S:.0f}s mid-stream", sent=MENTIONS, lost=len(result.lost),
                     duplicated=result.duplicated, recovery_s=round(max(ingest_back, route_back), 2),
                     note=(f"ingest answered {poster.statuses()[503]} x 503 + Retry-After, 0 x 202 without an ack; "
                           f"after the broker came back: ingest's next 202 {ingest_back:.2f}s, "
                           f"route consuming {route_back:.2f}s"))
        result.check()
    finally:
        sink.stop()


async def test_consumers_report_not_ready_while_the_broker_is_unreachable_at_start(fault_stack):
    stack = await fault_stack(kafka_proxy=True)
    assert stack.kafka_proxy is not None
    stack.kafka_proxy.cut()
    await stack.start(services=("classify", "route"), wait=False)
    try:
        await _not_ready_while_waiting(stack)
    finally:  # they ignore SIGTERM until the broker answers: no graceful stop to wait for
        for proc in stack.live("classify") + stack.live("route"):
            proc.kill()


async def _not_ready_while_waiting(stack: FaultStack) -> None:
    for service in ("classify", "route"):
        proc = stack.one(service)
        deadline = time.monotonic() + 30
        while True:  # wait for its probes to answer at all
            try:
                status, body = await proc.get("/readyz")
                break
            except (aiohttp.ClientError, TimeoutError):
                assert time.monotonic() < deadline and proc.alive, proc.tail()
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        status, body = await proc.get("/readyz")
        assert status == 503, f"{service} says ready with the broker unreachable: {body}"


async def test_ingest_answers_503_while_the_broker_is_unreachable_at_start(fault_stack):
    stack = await fault_stack(kafka_proxy=True)
    assert stack.kafka_proxy is not None
    stack.kafka_proxy.cut()
    await stack.start(services=("ingest",), wait=False)
    ingest = stack.one("ingest")
    try:
        await asyncio.sleep(5.0)  # far longer than ingest takes to start when the broker answers
        assert ingest.alive
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.post(ingest.url("/v1/mentions"), json=mention_body("start-503", "refund me")) as resp:
                    status, retry_after = resp.status, resp.headers.get("Retry-After")
        except aiohttp.ClientConnectionError as exc:
            raise AssertionError(f"ingest refuses connections while waiting for the broker: {exc!r}") from exc
        assert status == 503 and retry_after is not None
    finally:
        ingest.kill()  # it ignores SIGTERM until the broker answers


@requires_kafka
async def test_broker_process_restarted_mid_stream(fault_stack, fault_report):
    """Apache Kafka itself stopped (a controlled shutdown) and started again on its storage mid-stream,
    as a rolling broker upgrade does to each broker: every accepted mention routed once, and the
    consumers resume from their committed offsets."""
    sink = WebhookSink().start()
    try:
        stack = await fault_stack(env={"HEATDESK_NOTIFY_WEBHOOK_URL": sink.url})
        await stack.start()
        ingest = stack.one("ingest")
        poster = Poster(lambda: ingest.url(""), mentions(MENTIONS, 300, "kr"), concurrency=8, rate_per_s=100).start()
        await poster.wait_accepted(300)
        stopped_at = time.monotonic()
        stack.broker.stop()
        down_s = time.monotonic() - stopped_at
        await asyncio.sleep(3.0)
        result, ingest_back, route_back = await back_and_audited(stack, poster, sink, stack.broker.start)
        for service in SERVICES:
            assert stack.one(service).alive, stack.one(service).tail()
        fault_report(fault="broker process restarted mid-stream (SIGTERM, 3 s down, start)", sent=MENTIONS,
                     lost=len(result.lost), duplicated=result.duplicated, recovery_s=round(max(ingest_back, route_back), 2),
                     note=(f"controlled shutdown took {down_s:.2f}s; ingest answered {poster.statuses()[503]} x 503 "
                           f"meanwhile; after the start: ingest's next 202 {ingest_back:.2f}s, route consuming "
                           f"{route_back:.2f}s"))
        result.check()
    finally:
        sink.stop()
