"""The consume → process → make durable → commit loop every consumer service runs.

At-least-once with idempotent effects (DESIGN.md): offsets are committed only after the
handler returned, i.e. after its database transaction committed and its records were
acknowledged. A crash anywhere before the commit means the batch is delivered again,
and the handler's effects are keyed so that the redelivery changes nothing.

Failures are sorted by one question, "can trying again help?":
- retriable (broker or database unreachable): back off and retry the same batch, report
  not-ready, never skip;
- poison (undecodable record, wrong event type, a record the handler cannot process):
  write it to `deadletter.v1` with the reason and move on, so one bad record never
  blocks a partition.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from services.common.db import is_retriable_db_error
from services.common.envelope import Event, decode
from services.common.errors import DEADLETTER_REASONS, HeatdeskError, PoisonRecord, RecordRejected
from services.common.kafka import RECORD_ERRORS, Publisher
from services.common.metrics import Metrics
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import DEADLETTER, EventType

log = logging.getLogger(__name__)

#: Bytes of the original value a dead letter keeps when the whole would be refused as too large.
DEADLETTER_VALUE_LIMIT = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    """A decoded event with the record it came from."""

    record: ConsumerRecord
    event: Event


BatchHandler = Callable[[Sequence[Incoming]], Awaitable[None]]


def is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, HeatdeskError):
        return exc.retriable
    if isinstance(exc, RECORD_ERRORS):
        return False
    if isinstance(exc, KafkaError):
        return True  # the broker may come back
    return is_retriable_db_error(exc)


def letter_headers(stage: str, reason: str, detail: str, source: str, partition: str = "-", offset: str = "-",
                   content_type: bytes = b"application/octet-stream") -> list[tuple[str, bytes]]:
    """CloudEvent headers of a dead letter from `source` (a topic, or `webhook:<channel>` for
    what ingest could not turn into a mention, which has no partition or offset)."""
    from services.common.ids import uuid7

    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", uuid7().encode()),
        ("ce_type", EventType.DEADLETTERED.encode()),
        ("ce_source", f"heatdesk/{stage}".encode()),
        ("ce_time", format_rfc3339(utcnow()).encode()),
        ("content-type", content_type),
        ("heatdesk_dlq_stage", stage.encode()),
        ("heatdesk_dlq_reason", reason.encode()),
        ("heatdesk_dlq_detail", detail[:2000].encode(errors="replace")),
        ("heatdesk_dlq_topic", source.encode()),
        ("heatdesk_dlq_partition", partition.encode()),
        ("heatdesk_dlq_offset", offset.encode()),
    ]


def deadletter_headers(record: ConsumerRecord, stage: str, reason: str, detail: str) -> list[tuple[str, bytes]]:
    """The dead letter's headers for a consumed record, plus its original headers under `orig_`."""
    headers = letter_headers(stage, reason, detail, record.topic, str(record.partition), str(record.offset))
    headers += [(f"orig_{k}", v) for k, v in (record.headers or ())]
    return headers


class ConsumeLoop:
    def __init__(self, consumer: AIOKafkaConsumer, publisher: Publisher, handler: BatchHandler, *,
                 metrics: Metrics, group: str, stage: str, expected_types: frozenset[str],
                 max_records: int = 500, poll_timeout_ms: int = 100, max_backoff_s: float = 5.0) -> None:
        self.consumer = consumer
        self.publisher = publisher
        self.handler = handler
        self.metrics = metrics
        self.group = group
        self.stage = stage
        self.expected_types = expected_types
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.max_backoff_s = max_backoff_s
        self.healthy = False
        self.last_error = ""
        self._consumed: dict[TopicPartition, int] = {}
        self._export_zeros()

    def _export_zeros(self) -> None:
        """Create the counters the alert rules watch at zero, before anything happens.

        A labelled counter is absent until its first increment, and a series that appears
        at 1 is no increase to `increase()`: the first dead letter of a reason, or the first
        retried batch after a start, would never fire HeatdeskDeadLettersGrowing or
        HeatdeskConsumerRetrying.
        """
        self.metrics.batch_retries.labels(self.group)
        for reason in DEADLETTER_REASONS:
            self.metrics.deadletters.labels(self.stage, reason)

    async def readiness(self) -> tuple[bool, str]:
        if not self.healthy:
            return False, self.last_error or "consumer not started"
        return True, f"assigned {len(self.consumer.assignment())} partitions"

    async def run(self, stop: asyncio.Event) -> None:
        self.healthy = True
        while not stop.is_set():
            try:
                batches = await self.consumer.getmany(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
            except KafkaError as exc:
                self._unhealthy(f"fetch failed: {exc!r}")
                await asyncio.sleep(1.0)
                continue
            if batches:
                started = time.perf_counter()
                committed = await self._process_batches(batches, stop)
                self.metrics.batch_duration.labels(self.group).observe(time.perf_counter() - started)
                self.metrics.batch_size.labels(self.group).observe(sum(len(r) for r in batches.values()))
                if not committed:
                    return  # stopping mid-retry: leave the batch uncommitted for the next owner
            self._update_lag()

    async def _process_batches(self, batches: dict[TopicPartition, list[ConsumerRecord]],
                               stop: asyncio.Event) -> bool:
        good: list[Incoming] = []
        poison: list[tuple[ConsumerRecord, PoisonRecord]] = []
        for tp, records in batches.items():
            self.metrics.records_consumed.labels(self.group, tp.topic).inc(len(records))
            for record in records:
                try:
                    good.append(Incoming(record, decode(record.headers, record.value, record.key, self.expected_types)))
                except PoisonRecord as exc:
                    poison.append((record, exc))
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        if not await self._settle(good, poison, offsets, stop):
            return False
        for tp, records in batches.items():
            self._consumed[tp] = records[-1].offset + 1
        return True

    async def _settle(self, good: list[Incoming], poison: list[tuple[ConsumerRecord, PoisonRecord]],
                      offsets: dict[TopicPartition, int], stop: asyncio.Event) -> bool:
        """Outputs durable, poison dead-lettered, then offsets committed; False when stopping mid-retry."""
        if good and not await self._with_retry(lambda: self._handle(good, poison), stop):
            return False
        if poison and not await self._with_retry(lambda: self._deadletter(poison), stop):
            return False
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # The partitions moved to another member during processing; it will see the
            # batch again and, effects being idempotent, change nothing.
            log.warning("commit refused after rebalance", extra={"group": self.group, "error": repr(exc)})
        except KafkaError as exc:
            log.warning("commit failed; batch will be redelivered", extra={"group": self.group, "error": repr(exc)})
        return True

    async def _handle(self, good: list[Incoming], poison: list[tuple[ConsumerRecord, PoisonRecord]]) -> None:
        """Process the batch; if it fails for a non-retriable reason, find the culprit record by record.

        Retriable errors propagate so the caller retries the whole attempt; the poison found
        in an attempt is only kept when the attempt completes, so a retry never doubles it.
        """
        try:
            await self.handler(good)
            return
        except Exception as exc:
            if is_retriable(exc):
                raise
            log.warning("batch failed, isolating the bad record", extra={"group": self.group, "error": repr(exc)})
        found: list[tuple[ConsumerRecord, PoisonRecord]] = []
        for item in good:
            try:
                await self.handler([item])
            except Exception as exc:
                if is_retriable(exc):
                    raise
                found.append((item.record, _as_poison(exc)))
        poison.extend(found)

    async def _deadletter(self, poison: list[tuple[ConsumerRecord, PoisonRecord]]) -> None:
        for record, exc in poison:
            log.warning("record dead-lettered", extra={"stage": self.stage, "reason": exc.reason,
                                                       "topic": record.topic, "partition": record.partition,
                                                       "offset": record.offset, "detail": exc.detail[:300]})
            await self._publish_letter(record, exc)
            self.metrics.deadletters.labels(self.stage, exc.reason).inc()
        poison.clear()

    async def _publish_letter(self, record: ConsumerRecord, exc: PoisonRecord) -> None:
        """Dead-letter one record; if the letter is too large, send it with the value cut.

        The letter is the value plus ~1 KB of headers, so a record that fitted its source
        topic can be refused as a letter. Refusing to move on would block the partition on
        that offset for good, so the letter goes out with the first DEADLETTER_VALUE_LIMIT
        bytes and `heatdesk_dlq_value_truncated` = the full size; the whole record stays in
        the source topic (until its retention) at the offset the letter names.
        """
        headers = deadletter_headers(record, self.stage, exc.reason, exc.detail)
        try:
            await self.publisher.publish_raw(DEADLETTER, record.value, record.key, headers)
            return
        except RecordRejected as refused:
            if record.value is None or len(record.value) <= DEADLETTER_VALUE_LIMIT:
                raise
            log.warning("dead letter refused; sending it with the value truncated",
                        extra={"stage": self.stage, "topic": record.topic, "partition": record.partition,
                               "offset": record.offset, "bytes": len(record.value), "error": str(refused)})
        headers.append(("heatdesk_dlq_value_truncated", str(len(record.value)).encode()))
        await self.publisher.publish_raw(DEADLETTER, record.value[:DEADLETTER_VALUE_LIMIT], record.key, headers)

    async def _with_retry(self, action: Callable[[], Awaitable[None]], stop: asyncio.Event) -> bool:
        delay = 0.2
        while True:
            try:
                await action()
                if not self.healthy:
                    log.info("recovered", extra={"group": self.group})
                self.healthy = True
                self.last_error = ""
                return True
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                self.metrics.batch_retries.labels(self.group).inc()
                self._unhealthy(repr(exc))
                log.warning("retriable failure; retrying the batch", extra={"group": self.group, "error": repr(exc),
                                                                             "backoff_s": delay})
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return False
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.max_backoff_s)

    def _unhealthy(self, why: str) -> None:
        self.healthy = False
        self.last_error = why

    def _update_lag(self) -> None:
        per_topic: dict[str, int] = {}
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            position = self._consumed.get(tp)
            lag = max(0, highwater - position) if position is not None else 0
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + lag
        for topic, lag in per_topic.items():
            self.metrics.consumer_lag.labels(self.group, topic).set(lag)


def _as_poison(exc: BaseException) -> PoisonRecord:
    if isinstance(exc, PoisonRecord):
        return exc
    if isinstance(exc, RecordRejected):
        return PoisonRecord("output_rejected", str(exc))
    return PoisonRecord("processing_error", f"{type(exc).__name__}: {exc}")
