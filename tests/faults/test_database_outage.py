"""PostgreSQL unavailable for 20 seconds in the middle of a stream.

The services reach PostgreSQL through a proxy; the shared server itself keeps running.
`cut()` closes the proxy's listener and resets every open connection - to route and
notify this is the server going away. While it is away:

- route and notify report not ready (`/readyz` 503, naming the database) and stop
  consuming: their consumed-records counters stand still;
- they retry the batch in hand with exponential backoff (0.2 s doubling up to 5 s, read
  from their logs) and count the retries (`heatdesk_batch_retries_total`);
- ingest, which needs no database, keeps answering 202.

After `resume()` both are ready again and every mention accepted before, during and after
the outage is routed once, every event published, every breach notified (`verify.audit`).
A webhook call notify made but could not record (its database gone mid-delivery) is sent
again with the same Idempotency-Key after its lease: allowed for those calls only.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.faults.load import Poster, WebhookSink, mentions
from tests.faults.verify import audit
from tests.support import metric_sum

pytestmark = pytest.mark.integration

MENTIONS = 2_500
OUTAGE_S = 20.0


def backoffs(log_text: str) -> list[float]:
    """The backoff of each "retrying the batch" line of a service's JSON log, in order."""
    out = []
    for line in log_text.splitlines():
        if '"retriable failure; retrying the batch"' in line:
            out.append(float(json.loads(line)["backoff_s"]))
    return out


async def test_database_down_for_20_s_mid_stream(fault_stack, fault_report):
    sink = WebhookSink().start()
    try:
        stack = await fault_stack(pg_proxy=True, env={"HEATDESK_NOTIFY_WEBHOOK_URL": sink.url})
        await stack.start()
        ingest, route, notify = stack.one("ingest"), stack.one("route"), stack.one("notify")
        poster = Poster(lambda: ingest.url(""), mentions(MENTIONS, 600, "pg"), concurrency=8, rate_per_s=100).start()
        await poster.wait_accepted(300)

        assert stack.pg_proxy is not None
        stack.pg_proxy.cut()
        cut_at = time.monotonic()
        accepted_at_cut = poster.accepted
        for proc in (route, notify):
            deadline = time.monotonic() + 15
            while await proc.ready():
                assert time.monotonic() < deadline, f"{proc.name} still ready with the database gone"
                await asyncio.sleep(0.1)
            status, body = await proc.get("/readyz")
            assert status == 503 and "database" in body, body
        await asyncio.sleep(2)  # whatever was in hand is now stuck retrying
        consumed_before = {p.name: await p.consumed() for p in (route, notify)}
        await asyncio.sleep(max(0.0, cut_at + OUTAGE_S - time.monotonic()))
        consumed_after = {p.name: await p.consumed() for p in (route, notify)}
        route_metrics = await route.metrics()
        accepted_during = poster.accepted - accepted_at_cut
        for proc in (route, notify):
            assert not await proc.ready()
        stack.pg_proxy.resume()
        resumed_at = time.monotonic()

        recovery = {}
        for proc in (route, notify):
            deadline = time.monotonic() + 30
            while not await proc.ready():
                assert time.monotonic() < deadline, f"{proc.name} not ready 30 s after the database came back"
                await asyncio.sleep(0.1)
            recovery[proc.name] = time.monotonic() - resumed_at
        await poster.wait()
        # A webhook call answered while the database was away could not be recorded as delivered: it is sent
        # again with the same Idempotency-Key once its lease runs out (at-least-once; the receiver drops it).
        unrecorded = {c.key for c in list(sink.calls) if cut_at - 1.0 <= c.at <= resumed_at}
        db = await stack.db()
        try:
            result = await audit(db, stack.bootstrap, poster, sink, allowed_redeliveries=unrecorded, timeout=120)
        finally:
            await db.close()

        assert consumed_after == consumed_before  # stopped consuming while the database was gone
        assert accepted_during >= OUTAGE_S * 100 / 4  # ingest kept accepting (the stream runs at 100/s)
        assert set(poster.statuses()) == {202}  # and never refused anything
        assert metric_sum(route_metrics, "heatdesk_batch_retries_total") >= 5
        for proc in (route, notify):
            delays = backoffs(proc.tail(10_000_000))
            assert delays[:4] == [0.2, 0.4, 0.8, 1.6], delays  # exponential …
            assert delays == sorted(delays) and max(delays) == 5.0, delays  # … up to its cap
        for proc in (route, notify, ingest):
            assert proc.alive
        fault_report(fault=f"PostgreSQL unavailable {OUTAGE_S:.0f}s mid-stream", sent=MENTIONS, lost=len(result.lost),
                     duplicated=result.duplicated, recovery_s=round(max(recovery.values()), 2),
                     note=(f"route/notify not ready and not consuming during it; ingest accepted {accepted_during} "
                           f"meanwhile; ready again after {', '.join(f'{k} {v:.1f}s' for k, v in recovery.items())}; "
                           f"webhook re-sends (same Idempotency-Key) of deliveries made but not recordable during the "
                           f"outage {result.summary()['webhook_redeliveries_same_key']}"))
        result.check()
    finally:
        sink.stop()
