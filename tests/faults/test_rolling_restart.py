"""A rolling restart of two replicas of each consumer service under load.

classify, route and notify run two replicas each, sharing their consumer groups (and, for
notify, the timer scanner and the delivery queue) while a stream of mentions flows. One
replica at a time is stopped as Kubernetes stops a pod - SIGTERM, the batch in hand
finishes and is committed, exit 0 - and a new one is started and awaited before the next
goes. Nothing is lost, no notification is sent twice (a graceful stop leaves nothing in
flight), and the pause a mention sees is bounded: the worst time from ingest to its case
is reported, and must stay under a generous bound.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.load import Poster, WebhookSink, mentions
from tests.faults.stack import CONSUMERS
from tests.faults.verify import audit

pytestmark = pytest.mark.integration

MAX_MENTIONS = 10_000  # the stream runs until the roll is done and a little longer, then stops
RATE_PER_S = 150.0
MAX_PAUSE_S = 30.0  # an upper bound, far above what is measured (reported in the table)


async def test_rolling_restart_of_two_replicas_each_under_load(fault_stack, fault_report):
    sink = WebhookSink().start()
    try:
        stack = await fault_stack(env={"HEATDESK_NOTIFY_WEBHOOK_URL": sink.url})
        await stack.start(services=("ingest",))
        await stack.start(services=CONSUMERS, replicas=2)
        ingest = stack.one("ingest")
        poster = Poster(lambda: ingest.url(""), mentions(MAX_MENTIONS, 600, "rr"), concurrency=8,
                        rate_per_s=RATE_PER_S).start()
        await poster.wait_accepted(300)
        exit_codes = []
        restart_s = []
        rolled_at = time.monotonic()
        for service in CONSUMERS:
            for old in list(stack.live(service)):
                began = time.monotonic()
                exit_codes.append((old.name, await old.terminate()))
                new = stack.spawn(service)
                await new.wait_ready()
                restart_s.append(time.monotonic() - began)
        rolled_s = time.monotonic() - rolled_at
        accepted_at_end_of_roll = poster.accepted
        await poster.wait_accepted(accepted_at_end_of_roll + 300)  # the new replicas under load too
        poster.stop()
        await poster.wait()
        sent = len(poster.outcomes)
        assert sent < MAX_MENTIONS, "the stream ran out before the roll ended"
        db = await stack.db()
        try:
            result = await audit(db, stack.bootstrap, poster, sink, timeout=120)
            pause = await db.fetchval("SELECT max(extract(epoch FROM routed_at - received_at)) FROM mentions")
        finally:
            await db.close()
        fault_report(fault="rolling restart, 2 replicas each of classify/route/notify (6 restarts)", sent=sent,
                     lost=len(result.lost), duplicated=result.duplicated, recovery_s=round(max(restart_s), 2),
                     note=(f"roll took {rolled_s:.1f}s under load; worst ingest->case delay {pause:.1f}s; "
                           f"webhook calls {result.webhook_calls} for {result.notifications} notifications; "
                           f"recovery = slowest stop+start+ready of one replica"))
        assert exit_codes == [(name, 0) for name, _ in exit_codes]
        result.check()
        assert result.webhook_duplicates == {}  # graceful stops: not even a redelivery with the same key
        assert pause < MAX_PAUSE_S
    finally:
        sink.stop()
