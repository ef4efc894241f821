"""Operator commands on Kafka: `heatdesk topics describe`, `heatdesk deadletter list|replay`.

Readable tables for a terminal; `--json` where a script wants the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.config import ServiceSettings
from services.common.envelope import header_map
from services.common.kafka import _client_options
from services.common.topics import DEADLETTER

GROUPS = ("heatdesk-classify", "heatdesk-route", "heatdesk-notify")


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


#: Tansu's cluster id (unless started with another): its end offsets lag behind after
#: multi-record batches, so a lag computed from them is approximate.
TANSU_CLUSTER_ID = "tansu_cluster"


async def cluster_layout(settings: ServiceSettings, topics: Sequence[str]) -> tuple[str, dict[str, list[int]]]:
    """The cluster id and each existing topic's partitions, from a metadata request for those topics.

    A consumer that subscribes to nothing knows no topic's partitions on Apache Kafka (its
    metadata requests name no topic; Tansu answers with every topic regardless), so the
    operator commands ask for the topics by name.
    """
    admin = AIOKafkaAdminClient(**_client_options(settings, "ops"))
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        described = await admin.describe_topics(list(topics)) if topics else []
    finally:
        await admin.close()
    partitions = {t["topic"]: sorted(p["partition"] for p in t["partitions"])
                  for t in described if t["error_code"] == 0}
    return cluster["cluster_id"] or "", partitions


async def describe_topics(settings: ServiceSettings, topics: Sequence[str], groups: Sequence[str] = GROUPS
                          ) -> list[dict[str, Any]]:
    """Per topic: partitions, end offsets, and each group's committed offsets and lag.

    Lag = end offset - committed offset, summed over partitions: exact on Kafka. On the Tansu
    dev broker end offsets can lag behind the records, so `lag_exact` is false there and a
    partition's lag is never shown below 0.
    """
    cluster_id, layout = await cluster_layout(settings, topics)
    exact = cluster_id != TANSU_CLUSTER_ID
    consumer = AIOKafkaConsumer(**_client_options(settings, "ops"), enable_auto_commit=False)
    await consumer.start()
    try:
        out = []
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in layout.get(topic, [])]
            ends = await consumer.end_offsets(tps) if tps else {}
            row: dict[str, Any] = {"topic": topic, "partitions": len(tps), "end_offsets": sum(ends.values()),
                                   "lag": {}, "lag_exact": exact}
            for group in groups:
                member = AIOKafkaConsumer(**_client_options(settings, "ops"), group_id=group, enable_auto_commit=False)
                await member.start()
                try:
                    committed = {tp: (await member.committed(tp)) for tp in tps}
                finally:
                    await member.stop()
                if any(v is not None for v in committed.values()):
                    row["lag"][group] = sum(max(0, ends[tp] - (committed[tp] or 0)) for tp in tps)
            out.append(row)
        return out
    finally:
        await consumer.stop()


async def read_deadletters(settings: ServiceSettings, limit: int = 100) -> list[dict[str, Any]]:
    _, layout = await cluster_layout(settings, [DEADLETTER])
    tps = [TopicPartition(DEADLETTER, p) for p in layout.get(DEADLETTER, [])]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(**_client_options(settings, "ops"), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records = []
        idle = 0
        while idle < 3 and len(records) < limit:
            batch = await consumer.getmany(timeout_ms=300, max_records=limit)
            idle = 0 if batch else idle + 1
            for recs in batch.values():
                records.extend(recs)
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
        out = []
        for r in sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))[:limit]:
            h = header_map(r.headers)
            out.append({"partition": r.partition, "offset": r.offset, "stage": h.get("heatdesk_dlq_stage", b"").decode(),
                        "reason": h.get("heatdesk_dlq_reason", b"").decode(),
                        "source": f"{h.get('heatdesk_dlq_topic', b'').decode()}/"
                                  f"{h.get('heatdesk_dlq_partition', b'').decode()}@"
                                  f"{h.get('heatdesk_dlq_offset', b'').decode()}",
                        "detail": h.get("heatdesk_dlq_detail", b"").decode(errors="replace")[:120],
                        "bytes": len(r.value or b""),
                        "truncated_from": int(h["heatdesk_dlq_value_truncated"]) if "heatdesk_dlq_value_truncated" in h
                        else None, "record": r})
        return out
    finally:
        await consumer.stop()


async def replay_deadletter(settings: ServiceSettings, partition: int, offset: int, value: bytes | None = None) -> str:
    """Re-publish a dead letter to the topic it came from, with its original headers and key;
    `value` replaces the body (the fixed record). Returns the target topic."""
    letters = await read_deadletters(settings, limit=100_000)
    found = next((d for d in letters if d["partition"] == partition and d["offset"] == offset), None)
    if found is None:
        raise LookupError(f"no dead letter at partition {partition} offset {offset}")
    record = found["record"]
    h = header_map(record.headers)
    target = h["heatdesk_dlq_topic"].decode()
    if target.startswith("webhook:"):
        raise ValueError(f"dead letter at partition {partition} offset {offset} came from the {target[8:]} webhook, "
                         f"not a topic: {h.get('heatdesk_dlq_detail', b'').decode(errors='replace')}")
    headers = [(k[len("orig_"):], v) for k, v in (record.headers or ()) if k.startswith("orig_")]
    if value is None and "heatdesk_dlq_value_truncated" in h:
        raise ValueError(f"dead letter at partition {partition} offset {offset} holds only the first "
                         f"{len(record.value or b'')} of {h['heatdesk_dlq_value_truncated'].decode()} bytes; "
                         f"the whole record is at {found['source']} (until that topic's retention): "
                         "pass the fixed record with --file")
    body = value if value is not None else record.value
    if value is not None:
        try:
            orjson.loads(value)  # a fixed record must at least be JSON
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the fixed record is not JSON: {exc}") from exc
    producer = AIOKafkaProducer(**_client_options(settings, "ops"), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(target, value=body, key=record.key, headers=headers)
    finally:
        await producer.stop()
    return target


def run(coro: Any) -> Any:
    return asyncio.run(coro)
