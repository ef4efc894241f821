"""services.common.kafka.Publisher against the real broker: batched publishing keeps Kafka's contract.

Rows published together go out as one record batch per partition (`send_batch`), so each
key must still land on the partition `send` would pick (the Java client's murmur2), in the
order given, with its headers; an oversized row is refused as a bad record, not retried.
"""

from __future__ import annotations

import pytest

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.errors import ConfigError, RecordRejected
from services.common.kafka import Publisher, ensure_topics, make_producer
from services.common.partitioner import murmur2
from services.common.topics import TopicSpec
from tests.support import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def publisher(broker):
    settings = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap})
    await ensure_topics(settings, [TopicSpec("test.batched.v1", {}, "publisher tests")])
    producer = make_producer(settings, "test")
    await producer.start()
    try:
        yield Publisher(producer)
    finally:
        await producer.stop()


async def test_rows_published_together_keep_partition_order_and_headers(broker, publisher):
    rows = [("test.batched.v1", f"x:customer-{i % 23}", [("ce_id", f"id-{i}".encode())], f"value-{i}".encode())
            for i in range(1200)]  # 23 keys over the topic's four partitions
    rows += [("test.batched.v1", "x:big", [("ce_id", f"big-{i}".encode())], bytes(60_000)) for i in range(10)]
    await publisher.publish_rows(rows)  # "x:big" fills more than one batch (256 kB): split in order
    records = await read_topic(broker.bootstrap, "test.batched.v1", until=lambda rs: len(rs) >= len(rows))
    assert len(records) == len(rows)
    seen: dict[str, list[str]] = {}
    for r in records:
        key = r.key.decode()
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 4, key  # where `send` would put it
        if key != "x:big":
            assert dict(r.headers)["ce_id"] == b"id-" + r.value.removeprefix(b"value-")  # headers stay with values
        seen.setdefault(key, []).append(dict(r.headers)["ce_id"].decode())
    for key, ids in seen.items():
        expected = [h[0][1].decode() for _, k, h, _ in rows if k == key]
        assert ids == expected, key  # the order given, within the key's partition


async def test_an_oversized_row_is_rejected_as_a_bad_record(publisher):
    rows = [("test.batched.v1", "x:a", [], b"small"), ("test.batched.v1", "x:b", [], bytes(2 * 1024 * 1024))]
    with pytest.raises(RecordRejected):
        await publisher.publish_rows(rows)


@pytest.mark.parametrize("codec", ["lz4", "zstd", "snappy", "gzip", "none"])
async def test_each_compression_setting_round_trips_through_the_broker(broker, codec):
    """Every codec the setting accepts must work with the installed codec backend (cramjam,
    from aiokafka's extras): a missing backend fails at producer creation, not in production."""
    settings = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                                             "HEATDESK_KAFKA_COMPRESSION_TYPE": codec})
    topic = f"test.compressed.{codec}.v1"
    await ensure_topics(settings, [TopicSpec(topic, {}, "compression tests")])
    producer = make_producer(settings, "test")
    assert producer._compression_type == (None if codec == "none" else codec)  # noqa: SLF001
    await producer.start()
    try:
        rows = [(topic, f"x:c{i % 7}", [("ce_id", f"id-{i}".encode())], b'{"text": "%d late again"}' % i)
                for i in range(300)]
        await Publisher(producer).publish_rows(rows)
    finally:
        await producer.stop()
    records = await read_topic(broker.bootstrap, topic, until=lambda rs: len(rs) >= len(rows))
    assert sorted(r.value for r in records) == sorted(r[3] for r in rows)


def test_an_unknown_compression_type_stops_the_service_at_start():
    with pytest.raises(ConfigError, match="HEATDESK_KAFKA_COMPRESSION_TYPE=.brotli."):
        loader.load(ServiceSettings, {"HEATDESK_KAFKA_COMPRESSION_TYPE": "brotli"})
