"""kill -9 each service in turn in the middle of a stream of 5,000 mentions, and restart it.

One stream of 5,000 mentions (1,000 customers, so cases thread five mentions each) is
posted at a steady rate; at four points of it ingest, classify, route and notify are
SIGKILLed one after the other - no drain, no commit, no goodbye to the group - and a new
process is started in its place. Afterwards (see `verify.audit`): every accepted mention is
in exactly one case, every committed case event is on its topic and once in effect, every
case's breach notification was delivered, and the webhook got each notification once - a
second call (same Idempotency-Key) only for a notification notify was sending at the
instant it died.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.load import Poster, WebhookSink, mentions
from tests.faults.stack import SERVICES, Proc
from tests.faults.verify import audit, in_flight_notifications

pytestmark = pytest.mark.integration

MENTIONS = 5_000
RATE_PER_S = 250.0  # the stream lasts ~20 s
KILL_AT = {"ingest": 800, "classify": 1_900, "route": 3_000, "notify": 4_100}  # accepted mentions


async def recovered(replacement: Proc, killed_at: float) -> float:
    """Seconds from the kill until the replacement works: ingest accepts posts, a consumer consumes again
    (it joined the group and got partitions)."""
    if replacement.service == "ingest":
        return await replacement.wait_ready() + (replacement.started_at - killed_at)
    return await replacement.wait_consuming(since=killed_at)


async def test_kill_9_each_service_mid_stream_loses_and_doubles_nothing(fault_stack, fault_report):
    sink = WebhookSink().start()
    try:
        stack = await fault_stack(env={"HEATDESK_NOTIFY_WEBHOOK_URL": sink.url})
        await stack.start()
        ingest_url = stack.one("ingest").url("")  # a restarted ingest listens on the same port
        poster = Poster(lambda: ingest_url, mentions(MENTIONS, 1_000, "k9"), concurrency=16,
                        rate_per_s=RATE_PER_S).start()
        db = await stack.db()
        try:
            in_flight: set[str] = set()
            recovering: dict[str, asyncio.Task[float]] = {}
            accepted_at_kill: dict[str, int] = {}
            for service in SERVICES:  # kills at fixed points of the stream, whatever the previous recovery takes
                await poster.wait_accepted(KILL_AT[service])
                victim = stack.one(service)
                killed_at = time.monotonic()
                victim.kill()
                accepted_at_kill[service] = poster.accepted
                if service == "notify":
                    in_flight = await in_flight_notifications(db)
                replacement = stack.restart(victim)
                recovering[service] = asyncio.create_task(recovered(replacement, killed_at))
            recovery = {service: await task for service, task in recovering.items()}
            await poster.wait()
            result = await audit(db, stack.bootstrap, poster, sink, allowed_redeliveries=in_flight, timeout=180)
            delay = await db.fetchval("SELECT max(extract(epoch FROM routed_at - received_at)) FROM mentions")
        finally:
            await db.close()
        summary = result.summary()
        for service in SERVICES:
            fault_report(fault=f"kill -9 {service} mid-stream, restart", sent=MENTIONS, lost=len(result.lost),
                         duplicated=result.duplicated, recovery_s=round(recovery[service], 2),
                         note=(f"killed at {accepted_at_kill[service]} of {MENTIONS} accepted; one stream, 4 kills; "
                               f"max mention delay {delay:.1f}s; "
                               f"events republished with the same ce_id {summary['events_republished_same_ce_id']}; "
                               f"webhook re-sends (same Idempotency-Key) of notifications in flight at the kill "
                               f"{summary['webhook_redeliveries_same_key']}"))
        assert poster.statuses()[202] == MENTIONS
        assert sum(o.connection_errors for o in poster.outcomes.values()) > 0  # ingest really was gone for a while
        result.check()
    finally:
        sink.stop()
