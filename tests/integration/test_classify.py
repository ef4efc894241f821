"""classify against the real broker: classification published, poison dead-lettered, offsets committed."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.classify.app import ClassifyService
from services.classify.settings import ClassifySettings
from services.common import settings as loader
from services.common.embedded import free_port
from services.common.envelope import Event, header_map
from services.common.errors import DEADLETTER_REASONS
from services.common.timeutil import utcnow
from services.common.topics import DEADLETTER, MENTIONS_CLASSIFIED, MENTIONS_RAW, EventType
from services.ingest.channels.generic import parse_generic_mention
from tests.support import (
    Running,
    count_at_least,
    events,
    mention_body,
    metric_sum,
    produce,
    produce_events,
    read_topic,
    scrape_metrics,
    validate_event,
    wait_for,
)

pytestmark = pytest.mark.integration


def raw_event(external_id: str, text: str, author_id: str = "cust-1") -> Event:
    mention = parse_generic_mention(mention_body(external_id, text, author_id=author_id), utcnow())
    return Event(type=EventType.MENTION_RECEIVED, source="test", data=mention, key=f"x:{author_id}",
                 subject=mention["id"])


def _service(service_env: dict[str, str]) -> ClassifyService:
    return ClassifyService(loader.load(ClassifySettings, {**service_env, "HEATDESK_CLASSIFY_PORT": str(free_port())}))


async def test_mentions_are_classified_in_order_per_customer(service_env, broker):
    texts = ["@acme you charged me twice this month, refund me or I'm telling everyone",
             "still no answer, I'm contacting my lawyer",
             "Thanks @acme, love the new app"]
    evs = [raw_event(f"c-{i}", t) for i, t in enumerate(texts)]
    await produce_events(broker.bootstrap, MENTIONS_RAW, evs)
    async with Running(_service(service_env)):
        records = await read_topic(broker.bootstrap, MENTIONS_CLASSIFIED, until=count_at_least(3))
    out = events(records)
    assert [e.data["mention"]["id"] for e in out] == [e.data["id"] for e in evs]  # one key → one partition, in order
    for e in out:
        validate_event(e)
        assert e.type == EventType.MENTION_CLASSIFIED
        assert e.key == "x:cust-1"
    first, second, third = (e.data["classification"] for e in out)
    assert first["department"] == "billing" and "escalation_threat" in first["flags"]
    assert "legal_threat" in second["flags"]
    assert third["intent"] == "praise" and third["sentiment"]["label"] == "positive"


async def test_poison_records_are_dead_lettered_and_the_partition_moves_on(service_env, broker):
    good = raw_event("ok-1", "my parcel never arrived")
    bad_json = [(b"x:cust-1", b"{broken", good.headers())]
    wrong_type = Event(type="com.example.other.v1", source="test", data={"a": 1}, key="x:cust-1")
    missing_text = Event(type=EventType.MENTION_RECEIVED, source="test", data={"id": "m", "channel": "x"},
                         key="x:cust-1")
    await produce(broker.bootstrap, MENTIONS_RAW, bad_json)
    await produce_events(broker.bootstrap, MENTIONS_RAW, [wrong_type, missing_text, good])
    svc = _service(service_env)
    async with Running(svc):
        classified = await read_topic(broker.bootstrap, MENTIONS_CLASSIFIED, until=count_at_least(1))
        dead = await read_topic(broker.bootstrap, DEADLETTER, until=count_at_least(3))
        # Offsets of all four records are committed: a restart would not see them again.
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=svc.settings.classify_group_id,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            committed = 0
            for p in consumer.partitions_for_topic(MENTIONS_RAW) or []:
                committed += (await consumer.committed(TopicPartition(MENTIONS_RAW, p))) or 0
        finally:
            await consumer.stop()
    assert [e.data["mention"]["id"] for e in events(classified)] == [good.data["id"]]
    reasons = sorted(header_map(r.headers)["heatdesk_dlq_reason"].decode() for r in dead)
    assert reasons == ["invalid_json", "schema_violation", "unsupported_type"]
    for r in dead:
        h = header_map(r.headers)
        assert h["ce_type"] == EventType.DEADLETTERED.encode()
        assert h["heatdesk_dlq_stage"] == b"classify"
        assert h["heatdesk_dlq_topic"] == MENTIONS_RAW.encode()
        assert r.key == b"x:cust-1"
    assert any(r.value == b"{broken" for r in dead)  # the original bytes, untouched
    assert committed == 4


async def test_alerted_counters_exist_at_zero_so_the_first_dead_letter_is_an_increase(service_env, broker):
    """`increase()` sees nothing when a series appears at 1: every dead-letter reason and the
    retry counter are on /metrics at zero before anything happens, and go 0 -> 1."""
    svc = _service(service_env)
    url = f"http://127.0.0.1:{svc.settings.classify_port}/metrics"
    group = svc.settings.classify_group_id
    async with Running(svc):
        before = await scrape_metrics(url)
        assert before is not None
        for reason in DEADLETTER_REASONS:
            assert before[("heatdesk_deadletter_total", frozenset({("stage", "classify"), ("reason", reason)}))] == 0
        assert before[("heatdesk_batch_retries_total", frozenset({("group", group)}))] == 0
        await produce(broker.bootstrap, MENTIONS_RAW, [(b"x:cust-1", b"{broken", raw_event("z-1", "hi").headers())])
        after = await wait_for(lambda: scrape_metrics(
            url, lambda m: metric_sum(m, "heatdesk_deadletter_total", stage="classify")))
    assert metric_sum(after, "heatdesk_deadletter_total", stage="classify", reason="invalid_json") == 1
    assert metric_sum(after, "heatdesk_deadletter_total", stage="classify") == 1
