"""What only Apache Kafka gives, tested on it (the Kafka lane; skipped on Tansu).

- The embedded Apache Kafka is a real broker: a restart keeps topics, records and committed
  offsets (the fault tests rely on it).
- Consumer lag is exact: against a known backlog, `heatdesk_consumer_lag` scraped from a
  running classify's /metrics and `heatdesk topics describe` both equal end offset minus
  committed offset, record for record.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.classify.app import ClassifyService
from services.classify.settings import ClassifySettings
from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.embedded import free_port
from services.common.embedded_kafka import ApacheKafkaBroker
from services.common.envelope import Event
from services.common.ops import describe_topics
from services.common.timeutil import utcnow
from services.common.topics import MENTIONS_RAW, EventType
from services.ingest.channels.generic import parse_generic_mention
from tests.brokers import create_lane_topics, requires_kafka
from tests.support import Running, mention_body, metric_sum, produce_events, scrape_metrics, wait_for

pytestmark = [pytest.mark.integration, requires_kafka]

BACKLOG = 2000


def raw_event(i: int, author: str) -> Event:
    mention = parse_generic_mention(mention_body(f"lag-{i}", f"my invoice {i} shows a late fee twice",
                                                 author_id=author), utcnow())
    return Event(type=EventType.MENTION_RECEIVED, source="test", data=mention, key=f"x:{author}",
                 subject=mention["id"])


async def committed(bootstrap: str, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: (await consumer.committed(tp)) or 0 for tp in tps}
    finally:
        await consumer.stop()


async def test_a_restarted_broker_keeps_topics_records_and_committed_offsets(tmp_path: Path):
    broker = ApacheKafkaBroker(port=free_port(), log_path=tmp_path / "broker.log", data_dir=tmp_path / "data")
    broker.start()
    try:
        await create_lane_topics(broker.bootstrap)
        await produce_events(broker.bootstrap, MENTIONS_RAW, [raw_event(i, "restart") for i in range(10)])
        consumer = AIOKafkaConsumer(MENTIONS_RAW, bootstrap_servers=broker.bootstrap, group_id="g-restart",
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            got = []
            while len(got) < 4:
                got += [r for rs in (await consumer.getmany(timeout_ms=500, max_records=4 - len(got))).values()
                        for r in rs]
            (tp,) = {TopicPartition(r.topic, r.partition) for r in got}
            await consumer.commit({tp: got[-1].offset + 1})
        finally:
            await consumer.stop()
        broker.stop()
        broker.start()
        settings = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap})
        rows = {r["topic"]: r for r in await describe_topics(settings, [MENTIONS_RAW], groups=["g-restart"])}
        assert rows[MENTIONS_RAW]["end_offsets"] == 10
        assert rows[MENTIONS_RAW]["lag"] == {"g-restart": 6}
    finally:
        broker.close()


async def test_lag_is_exact_against_a_known_backlog(service_env, broker):
    """A backlog on one partition; classify handles its first batch, then is held inside the second.

    At that moment the backlog still waiting is exactly BACKLOG minus the committed offset: the
    metric (set after the first batch) and `topics describe` must both say so. Released, the
    consumer drains and both say 0.
    """
    await produce_events(broker.bootstrap, MENTIONS_RAW, [raw_event(i, "backlog") for i in range(BACKLOG)])
    svc = ClassifyService(loader.load(ClassifySettings, {**service_env, "HEATDESK_CLASSIFY_PORT": str(free_port())}))
    handle, calls, held, release = svc.handle, [], asyncio.Event(), asyncio.Event()

    async def held_second_batch(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        if len(calls) == 2:
            held.set()
            await release.wait()
        return await handle(batch)

    svc.handle = held_second_batch  # type: ignore[method-assign]
    url = f"http://127.0.0.1:{svc.settings.classify_port}/metrics"
    group = svc.settings.classify_group_id
    settings = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap})
    async with Running(svc):
        await asyncio.wait_for(held.wait(), 60)
        tps = [TopicPartition(MENTIONS_RAW, p) for p in range(12)]
        done = sum((await committed(broker.bootstrap, group, tps)).values())
        assert done == calls[0] < BACKLOG  # the first batch, committed; the second is being held
        metrics = await scrape_metrics(url)
        assert metrics is not None
        assert metric_sum(metrics, "heatdesk_consumer_lag", group=group, topic=MENTIONS_RAW) == BACKLOG - done
        (row,) = await describe_topics(settings, [MENTIONS_RAW], groups=[group])
        assert row["lag_exact"] and row["end_offsets"] == BACKLOG and row["lag"] == {group: BACKLOG - done}
        release.set()
        drained = await wait_for(lambda: scrape_metrics(
            url, lambda m: metric_sum(m, "heatdesk_records_consumed_total", group=group) >= BACKLOG
            and metric_sum(m, "heatdesk_consumer_lag", group=group, topic=MENTIONS_RAW) == 0), timeout=120)
        assert drained is not None
    (row,) = await describe_topics(settings, [MENTIONS_RAW], groups=[group])
    assert row["lag"] == {group: 0}
