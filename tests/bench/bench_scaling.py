"""Scaling: one classify process against two in one consumer group, on the same backlog.

Each run gets a fresh broker with the backlog already on `mentions.raw.v1` (4 partitions),
starts the processes, and times from the first classified record to the last. Partitions
bound the gain: a group never has more busy members than the topic has partitions, and on
this 2-core machine the cores bound it first.
Run alone: python -m tests.bench.bench_scaling
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.embedded import EmbeddedBroker, free_port
from services.common.envelope import Event
from services.common.kafka import ensure_topics
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import MENTIONS_CLASSIFIED, MENTIONS_RAW, EventType, all_topics
from services.ingest.channels.generic import parse_generic_mention
from tests.bench.common import figure, process, wait_http
from tests.bench.texts import texts
from tests.support import produce_events

BACKLOG = 12_000
RUNS = 2


def raw_events(n: int) -> list[Event]:
    corpus, _ = texts()
    now = utcnow()
    out = []
    for i in range(n):
        m = parse_generic_mention({"channel": "x", "external_id": f"s-{i}", "text": corpus[i % len(corpus)],
                                   "author": {"id": f"c{i % 3000}"}, "created_at": format_rfc3339(now)}, now)
        out.append(Event(type=EventType.MENTION_RECEIVED, source="bench", data=m, key=f"x:c{i % 3000}",
                         subject=m["id"]))
    return out


async def _timed_drain(bootstrap: str, n: int, timeout: float = 300) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        while not consumer.partitions_for_topic(MENTIONS_CLASSIFIED):
            await consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
        tps = [TopicPartition(MENTIONS_CLASSIFIED, p) for p in consumer.partitions_for_topic(MENTIONS_CLASSIFIED)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        total, timed, first = 0, 0, None
        deadline = time.monotonic() + timeout
        while total < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got = sum(len(v) for v in batch.values())
            total += got
            if got and first is None:
                first = time.monotonic()  # timed from the first output: group joins excluded
            elif got:
                timed += got
        if total < n:
            raise RuntimeError(f"only {total} of {n} classified")
        seen = timed
        return seen / (time.monotonic() - (first or time.monotonic()))
    finally:
        await consumer.stop()


def one_run(processes: int, events: list[Event], logs: Path) -> float:
    broker = EmbeddedBroker(port=free_port(), log_path=logs / "broker.log")
    broker.start()
    try:
        asyncio.run(ensure_topics(loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}),
                                  all_topics()))
        asyncio.run(produce_events(broker.bootstrap, MENTIONS_RAW, events))
        ports = [free_port() for _ in range(processes)]
        env = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "HEATDESK_HTTP_HOST": "127.0.0.1",
               "HEATDESK_LOG_LEVEL": "WARNING", "HEATDESK_KAFKA_SESSION_TIMEOUT_MS": "6000",
               "HEATDESK_KAFKA_HEARTBEAT_INTERVAL_MS": "500"}
        from contextlib import ExitStack

        with ExitStack() as stack:
            for i, port in enumerate(ports):
                stack.enter_context(process([sys.executable, "-m", "services.cli", "classify"],
                                            {**env, "HEATDESK_CLASSIFY_PORT": str(port)}, logs / f"classify{i}.log"))
            for port in ports:
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
            return asyncio.run(_timed_drain(broker.bootstrap, len(events)))
    finally:
        broker.stop()


def run() -> dict[str, Any]:
    events = raw_events(BACKLOG)
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        one = [one_run(1, events, logs) for _ in range(RUNS)]
        two = [one_run(2, events, logs) for _ in range(RUNS)]
    out = {"backlog": BACKLOG, "partitions": 4, "one_process_per_s": figure(one, "mentions/s"),
           "two_processes_per_s": figure(two, "mentions/s")}
    out["gain_of_second_process"] = round(out["two_processes_per_s"]["median"] / out["one_process_per_s"]["median"], 2)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
