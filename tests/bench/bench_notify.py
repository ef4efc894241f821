"""notify's SLA timers at scale: 100,000 open cases, armed, scanned, fired and answered.

Runs the service's own code paths (engine + store for case events, the `SKIP LOCKED`
scanner with its outbox and notification writes) against a fresh database on the
PostgreSQL at DATABASE_URL (or an embedded one), in one process, without the broker: the
figures are the database-bound work of a replica. Reported: case events applied per second
(each `case.opened` arms two clocks), the cost of a scanner tick that finds nothing due with
every clock open (the partial index on armed `due_at`), steps fired and clocks handled per
second when all first-response clocks pass warnings and breach, response events applied
per second, and memory (this process's RSS, the tables' size). Run alone:
`python -m tests.bench.bench_notify`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from services.common.consumer_loop import Incoming
from services.common.db import migrate, split_database
from services.common.embedded import EmbeddedPostgres, server_answers
from services.common.envelope import Event
from services.common.outbox import enqueue
from services.common.slapolicy import load_policies
from services.common.timeutil import format_rfc3339
from services.common.topics import CASE_EVENTS, EventType
from services.notify.cases import apply_events
from services.notify.engine import Engine
from services.notify.timers import fire_due
from tests.bench.common import figure, rss_mb

CASES = 100_000
BATCH = 500  # records per consumer batch (the consume loop's max_records)
SCAN_BATCH = 200  # HEATDESK_NOTIFY_SCAN_BATCH
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _incoming(event: Event, offset: int) -> Incoming:
    record = ConsumerRecord(CASE_EVENTS, offset % 4, offset, 0, 0, event.key_bytes(), event.body(), None, 0, 0,
                            event.headers())
    return Incoming(record, event)


def _opened(i: int) -> Event:
    case_id = str(uuid.UUID(int=i + 1))
    at = T0 + timedelta(milliseconds=i)
    case = {"id": case_id, "status": "open", "department": ("billing", "product", "support", "pr")[i % 4],
            "priority": "critical", "priority_score": 90, "channel": "x", "sla_policy": "default",
            "opened_at": format_rfc3339(at), "last_mention_at": format_rfc3339(at), "first_response_due_at": None,
            "mention_count": 1, "tags": [], "public": True,
            "author": {"id": f"c{i}", "followers": 10, "verified": False}}
    return Event(type=EventType.CASE_OPENED, source="bench", key=case_id, subject=case_id,
                 data={"case": case, "occurred_at": format_rfc3339(at)})


def _responded(opened: Event, minutes: float) -> Event:
    case = dict(opened.data["case"])
    at = datetime.fromisoformat(case["opened_at"].replace("Z", "+00:00")) + timedelta(minutes=minutes)
    case.update(status="pending", first_response_at=format_rfc3339(at), last_response_at=format_rfc3339(at))
    response = {"id": str(uuid.uuid4()), "kind": "reply", "automated": False, "public": True,
                "created_at": format_rfc3339(at), "first": True}
    return Event(type=EventType.CASE_RESPONDED, source="bench", key=opened.key, subject=opened.key,
                 data={"case": case, "occurred_at": format_rfc3339(at), "response": response})


async def _apply(pool: asyncpg.Pool, engine: Engine, make: Any) -> float:
    """Apply `make(i)` for every case in consumer-sized batches; events are built per batch, never all kept."""
    started = time.perf_counter()
    for i in range(0, CASES, BATCH):
        items = [_incoming(make(k), k) for k in range(i, min(i + BATCH, CASES))]
        async with pool.acquire() as conn, conn.transaction():
            await apply_events(conn, engine, items)
    return time.perf_counter() - started


async def _sizes(pool: asyncpg.Pool, tables: tuple[str, ...]) -> dict[str, float]:
    async with pool.acquire() as conn:
        return {t: round(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t) / 2**20, 1)
                for t in tables}


async def _scan(pool: asyncpg.Pool, now: datetime, policies: Any) -> tuple[int, int, float]:
    """The service's scan loop (without the broker flush); (clocks claimed, steps fired, seconds)."""
    claimed = fired = 0
    started = time.perf_counter()
    while True:
        async with pool.acquire() as conn, conn.transaction():
            result = await fire_due(conn, now, SCAN_BATCH, policies)
            await enqueue(conn, "notify", result.events)
        claimed += result.claimed
        fired += len(result.fired)
        if result.claimed < SCAN_BATCH:
            return claimed, fired, time.perf_counter() - started


async def _bench(dsn: str) -> dict[str, Any]:
    policies = load_policies()
    engine = Engine(policies)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        rss_start = rss_mb(os.getpid())
        arm_s = await _apply(pool, engine, _opened)
        rss_open = rss_mb(os.getpid())
        open_sizes = await _sizes(pool, ("sla_timers", "sla_cases"))
        async with pool.acquire() as conn:
            open_clocks = await conn.fetchval("SELECT count(*) FROM sla_timers WHERE state = 'armed'")
            await conn.execute("ANALYZE")
        idle = []
        for _ in range(5):  # a tick that finds nothing due, with every clock open
            started = time.perf_counter()
            claimed, _, _ = await _scan(pool, T0 - timedelta(minutes=1), policies)
            idle.append((time.perf_counter() - started) * 1000)
            assert claimed == 0
        # 17 minutes on (cases opened over 100 s): every critical first-response clock passed warn_50,
        # warn_80 and the breach, which pages the team lead's webhook.
        claimed, fired, fire_s = await _scan(pool, T0 + timedelta(minutes=17), policies)
        rss_fired = rss_mb(os.getpid())
        answer_s = await _apply(pool, engine, lambda i: _responded(_opened(i), 20))
        sizes = await _sizes(pool, ("sla_timers", "sla_cases", "sla_steps", "notifications", "outbox"))
        async with pool.acquire() as conn:
            notifications = await conn.fetchval("SELECT count(*) FROM notifications")
            stopped = await conn.fetchval("SELECT count(*) FROM sla_timers WHERE state = 'stopped'")
    finally:
        await pool.close()
    return {
        "open_cases": CASES, "open_clocks_armed": open_clocks,
        "arm_case_events_per_s": round(CASES / arm_s), "arm_clocks_per_s": round(2 * CASES / arm_s),
        "idle_scan_tick_ms": figure(idle, "ms", 2),
        "fire_clocks_handled_per_s": round(claimed / fire_s), "fire_steps_per_s": round(fired / fire_s),
        "fired": {"clocks": claimed, "steps": fired, "notifications": notifications, "seconds": round(fire_s, 1)},
        "answer_events_per_s": round(CASES / answer_s), "clocks_stopped": stopped,
        # This benchmark's own process (it runs the engine in-process, after `make bench` loaded
        # the classifier for earlier sections), not the notify service: the growth is the figure.
        # The service's own RSS is in the end-to-end section.
        "bench_process_rss_mb": {"start": round(rss_start, 1), "with_100k_open": round(rss_open, 1),
                                 "after_firing": round(rss_fired, 1), "grew": round(rss_fired - rss_start, 1)},
        "table_mb_with_100k_open": open_sizes, "table_mb_at_end": sizes,
    }


async def _with_database(work: Any) -> dict[str, Any]:
    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    embedded = None
    if not await server_answers(dsn):
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="heatdesk-bench-pg-")))
        dsn = embedded.start("postgres")
    admin, _ = split_database(dsn)
    name = f"heatdesk_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    target = admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        await migrate(target)
        return await work(target)
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        if embedded is not None:
            embedded.stop()


def run() -> dict[str, Any]:
    return asyncio.run(_with_database(_bench))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
