"""Route with PostgreSQL: routed mentions per second and classified → routed latency,
beside a relay of the same records between the same topics with no database.

The records are real-shaped classified mentions (airline tweets, evaluation use, through
the shipped classifier) from 2,000 customers, so threading finds follow-ups. Throughput is
measured on a backlog; latency at a fixed offered rate, from the classified record's
broker timestamp to the case event's.
Run alone: python -m tests.bench.bench_route
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.db import split_database
from services.common.embedded import EmbeddedBroker, free_port
from services.common.envelope import Event
from services.common.kafka import ensure_topics
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import CASE_EVENTS, MENTIONS_CLASSIFIED, EventType, all_topics
from tests.bench.common import create_database as _create
from tests.bench.common import drop_database as _drop
from tests.bench.common import figure, percentile, process, rss_mb, wait_http
from tests.bench.texts import texts
from tests.support import produce_events

BACKLOG = 6000
RUNS = 3
LATENCY_RATE = 500.0
LATENCY_N = 3000


def classified_events(n: int, tag: str) -> list[Event]:
    from services.classify.app import ClassifyService  # noqa: F401 - the service's classifier, as deployed
    from services.classify.pipeline import classifier as shipped

    corpus, _ = texts()
    model = shipped.Classifier()
    now = utcnow()
    mentions = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-{i}")), "channel": "x", "external_id": f"{tag}-{i}",
                 "conversation_id": None, "in_reply_to": None, "kind": "post", "language": "en", "url": None,
                 "author": {"id": f"c{i % 2000}", "handle": f"c{i % 2000}", "name": None, "followers": i % 3000,
                            "verified": False},
                 "text": corpus[i % len(corpus)], "created_at": format_rfc3339(now), "received_at": format_rfc3339(now),
                 "raw": None} for i in range(n)]
    results = model.classify(mentions)
    return [Event(type=EventType.MENTION_CLASSIFIED, source="bench", key=f"x:{m['author']['id']}", subject=m["id"],
                  data={"mention": m, "classification": c}) for m, c in zip(mentions, results, strict=True)]


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def _wait_count(dsn: str, sql: str, n: int, timeout: float = 300) -> float:
    """Poll on one connection: a connection per poll forked a backend 20 times a second."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() - started < timeout:
            if int(await conn.fetchval(sql)) >= n:
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"only {await conn.fetchval(sql)} of {n} after {timeout}s")
    finally:
        await conn.close()


async def _offsets_consumed(bootstrap: str, group: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        total = 0
        for p in consumer.partitions_for_topic(topic) or []:
            total += (await consumer.committed(TopicPartition(topic, p))) or 0
        return total
    finally:
        await consumer.stop()


def run(database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres") -> dict[str, Any]:
    routed: list[float] = []
    relayed: list[float] = []
    latencies: list[float] = []
    rss = {}
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        for r in range(RUNS):
            broker = EmbeddedBroker(port=free_port(), log_path=logs / "broker.log")
            broker.start()
            admin, _ = split_database(database_url)
            name = f"heatdesk_bench_{uuid.uuid4().hex[:8]}"
            dsn = admin.rsplit("/", 1)[0] + f"/{name}"
            try:
                settings = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap})
                asyncio.run(ensure_topics(settings, all_topics()))
                asyncio.run(_create(admin, name, dsn))
                evs = classified_events(BACKLOG, f"r{r}")
                asyncio.run(produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, evs))
                port = free_port()
                env = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": dsn, "HEATDESK_ROUTE_PORT": str(port),
                       "HEATDESK_HTTP_HOST": "127.0.0.1", "HEATDESK_LOG_LEVEL": "WARNING",
                       "HEATDESK_KAFKA_SESSION_TIMEOUT_MS": "2000", "HEATDESK_KAFKA_HEARTBEAT_INTERVAL_MS": "300"}
                with process([sys.executable, "-m", "services.cli", "route"], env, logs / "route.log") as proc:
                    wait_http(f"http://127.0.0.1:{port}/healthz")
                    if proc.poll() is not None:
                        raise RuntimeError(f"route died: {(logs / 'route.log').read_text()[-500:]}")
                    # Timed from the first routed mention: the consumer group join is not routing.
                    started = asyncio.run(_wait_count(dsn, "SELECT count(*) FROM mentions", 1))
                    first = asyncio.run(_count(dsn, "SELECT count(*) FROM mentions"))
                    done = asyncio.run(_wait_count(dsn, "SELECT count(*) FROM mentions", BACKLOG))
                    if first >= BACKLOG or done <= started:
                        raise RuntimeError("the backlog went in one batch: raise BACKLOG to measure a rate")
                    routed.append((BACKLOG - first) / (done - started))
                    rss["load"] = round(rss_mb(proc.pid), 1)
                    if r == 0:
                        latencies = asyncio.run(_latency(broker.bootstrap, dsn))
                with process([sys.executable, "-m", "tests.bench.relay", broker.bootstrap, MENTIONS_CLASSIFIED,
                              "bench.relay.v1", f"relay-{r}"], {}, logs / "relay.log") as relay_proc:
                    total = BACKLOG + (LATENCY_N if r == 0 else 0)
                    first = 0
                    while not first:  # timed from the first relayed batch, like route
                        first = asyncio.run(_offsets_consumed(broker.bootstrap, f"relay-{r}", MENTIONS_CLASSIFIED))
                        time.sleep(0.02)
                    started = time.monotonic()
                    while asyncio.run(_offsets_consumed(broker.bootstrap, f"relay-{r}", MENTIONS_CLASSIFIED)) < total:
                        if relay_proc.poll() is not None:
                            raise RuntimeError(f"the relay died: {(logs / 'relay.log').read_text()[-500:]}")
                        time.sleep(0.05)
                    relayed.append((total - first) / (time.monotonic() - started))
            finally:
                broker.stop()
                asyncio.run(_drop(admin, name))
    out = {"records_per_run": BACKLOG, "per_s": figure(routed, "mentions/s"),
           "baseline_relay_no_db": {"per_s": figure(relayed, "records/s")},
           "latency_ms": {"offered_per_s": LATENCY_RATE, "p50": round(percentile(latencies, 0.5), 1),
                          "p95": round(percentile(latencies, 0.95), 1), "p99": round(percentile(latencies, 0.99), 1)},
           "rss_mb": rss}
    out["ratio_to_relay"] = round(out["per_s"]["median"] / out["baseline_relay_no_db"]["per_s"]["median"], 3)
    return out


async def _latency(bootstrap: str, dsn: str) -> list[float]:
    """Offer LATENCY_N new mentions at LATENCY_RATE/s; classified → case event, in ms."""
    from aiokafka import AIOKafkaProducer

    from tests.support import events, read_topic

    evs = classified_events(LATENCY_N, "lat")
    sent: dict[str, float] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        started = time.perf_counter()
        for i, e in enumerate(evs):
            delay = started + i / LATENCY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            metadata = await (await producer.send(MENTIONS_CLASSIFIED, value=e.body(), key=e.key_bytes(),
                                                  headers=e.headers()))
            sent[e.data["mention"]["id"]] = metadata.timestamp
    finally:
        await producer.stop()
    records = await read_topic(bootstrap, CASE_EVENTS, until=lambda rs: sum(
        1 for ev in events(rs) if ev.data.get("mention_id") in sent) >= LATENCY_N * 0.99, timeout=120)
    out = []
    for record, event in zip(records, events(records), strict=True):
        mention_id = event.data.get("mention_id")
        if mention_id in sent and event.type in (EventType.CASE_OPENED, EventType.CASE_MENTION_ADDED):
            out.append(record.timestamp - sent.pop(mention_id))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
