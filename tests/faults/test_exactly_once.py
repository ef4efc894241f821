"""classify exactly-once on Apache Kafka: kill -9 mid-batch, no duplicate for a read_committed subscriber.

With HEATDESK_KAFKA_EXACTLY_ONCE, classify's outputs and its input offsets commit in one
Kafka transaction. A backlog of raw mentions is classified while classify is SIGKILLed
twice in the middle of it (a transaction open, records of it already written to the log)
and restarted with the same member id, as a pod restart keeps its name. A `read_committed`
consumer of `mentions.classified.v1` must then see every mention classified exactly once:
none lost, none twice. The records of the aborted transactions are in the log (a
`read_uncommitted` consumer counts them), which shows the kills did land mid-batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.envelope import Event
from services.common.timeutil import utcnow
from services.common.topics import MENTIONS_CLASSIFIED, MENTIONS_RAW, EventType
from services.ingest.channels.generic import parse_generic_mention
from tests.brokers import requires_kafka
from tests.support import events as decoded
from tests.support import mention_body, produce_events

pytestmark = [pytest.mark.integration, requires_kafka]

MENTIONS = 6_000
KILLS_AT = (1, 2_500)  # offsets in the classified log before each kill (once a transaction is open)


def backlog() -> list[Event]:
    out = []
    for i in range(MENTIONS):
        mention = parse_generic_mention(mention_body(f"eos-{i}", f"I was charged twice for order {i}",
                                                     author_id=f"eos-{i % 97}"), utcnow())
        out.append(Event(type=EventType.MENTION_RECEIVED, source="test", data=mention, key=f"x:eos-{i % 97}",
                         subject=mention["id"]))
    return out


async def classified_ids(bootstrap: str, isolation: str, want: int, timeout: float) -> list[str]:
    """Mention ids of the classified records visible at `isolation`, read until `want` or quiet."""
    consumer = AIOKafkaConsumer(MENTIONS_CLASSIFIED, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, isolation_level=isolation)
    await consumer.start()
    ids: list[str] = []
    try:
        deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 5 and len(ids) < want:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                ids += [e.data["mention"]["id"] for e in decoded(records)]
            if batch:
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return ids


class OpenTransactionWatch:
    """End offsets at both isolation levels: where they differ, a transaction with records is open."""

    def __init__(self, bootstrap: str) -> None:
        self.tps = [TopicPartition(MENTIONS_CLASSIFIED, p) for p in range(12)]
        self.consumers = {level: AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=level)
                          for level in ("read_uncommitted", "read_committed")}

    async def __aenter__(self) -> OpenTransactionWatch:
        for consumer in self.consumers.values():
            await consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for consumer in self.consumers.values():
            await consumer.stop()

    async def ends(self, level: str) -> int:
        return sum((await self.consumers[level].end_offsets(self.tps)).values())

    async def open_with_records(self, at_least: int, timeout: float = 60.0) -> bool:
        """Wait until the log holds `at_least` offsets and a transaction is open with records
        (high watermark past the last stable offset); False if none opened in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            high, stable = await self.ends("read_uncommitted"), await self.ends("read_committed")
            if high >= at_least and high > stable:
                return True
            await asyncio.sleep(0.005)
        return False


async def test_kill_9_mid_batch_leaves_no_duplicate_for_a_read_committed_subscriber(fault_stack, fault_report):
    stack = await fault_stack(env={"HEATDESK_KAFKA_EXACTLY_ONCE": "true"})
    events = backlog()
    await produce_events(stack.bootstrap, MENTIONS_RAW, events)
    await stack.start(["classify"])
    recoveries, open_at_kill = [], []
    async with OpenTransactionWatch(stack.bootstrap) as watch:
        for at_least in KILLS_AT:
            open_at_kill.append(await watch.open_with_records(at_least))
            victim = stack.one("classify")
            killed_at = time.monotonic()
            victim.kill()
            replacement = stack.restart(victim)  # same member id, so the same transactional id: fences the zombie
            recoveries.append(await replacement.wait_consuming(since=killed_at))
    committed = await classified_ids(stack.bootstrap, "read_committed", MENTIONS, timeout=180)
    everything = await classified_ids(stack.bootstrap, "read_uncommitted", 10 * MENTIONS, timeout=60)
    doubled = sum(n - 1 for n in Counter(committed).values() if n > 1)
    lost = len({e.data["id"] for e in events} - set(committed))
    aborted = len(everything) - len(committed)
    fault_report(fault="kill -9 classify mid-transaction x2, exactly-once on", sent=MENTIONS, lost=lost,
                 duplicated=doubled, recovery_s=round(max(recoveries), 2),
                 note=f"a read_committed consumer saw {len(committed)} classified records; {aborted} records of "
                      f"aborted transactions are in the log (a read_uncommitted consumer sees them); open "
                      f"transaction with records at each kill: {open_at_kill}")
    assert lost == 0 and doubled == 0 and len(committed) == MENTIONS, stack.logs()
    assert aborted > 0, "no kill landed inside an open transaction: the test showed nothing"
