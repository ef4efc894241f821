"""Exactly-once consume → produce on Apache Kafka: outputs, dead letters and offsets in one transaction.

The default loop is at-least-once: outputs are acknowledged, then offsets committed, so a
crash between the two publishes the batch's outputs again (downstream dedupes by `ce_id`).
For a stateless step like classify, Kafka transactions remove that window: the classified
records, any dead letters and the consumer's input offsets (`send_offsets_to_transaction`)
commit atomically, and a `read_committed` consumer never sees the records of a transaction
that was aborted or left open by a killed process (the next process with the same
transactional id aborts it when it starts).

A batch that fails for a reason retrying cannot fix (a record the handler cannot process,
a record the broker refuses) is aborted and redone record by record in offset order, each
record's output or dead letter committed together with that record's offset, so isolating
the culprit keeps the guarantee. Retriable failures abort and retry the same work; records
already committed by the record-by-record pass are not redone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from services.common.consumer_loop import ConsumeLoop, Incoming, _as_poison, is_retriable
from services.common.errors import PoisonRecord, ProducerFencedOut

log = logging.getLogger(__name__)


class TransactionalConsumeLoop(ConsumeLoop):
    """ConsumeLoop whose publisher's producer has a transactional id (the service gives it no
    `renew`, so it stays the same producer); the consumer reads committed records."""

    async def _settle(self, good: list[Incoming], poison: list[tuple[ConsumerRecord, PoisonRecord]],
                      offsets: dict[TopicPartition, int], stop: asyncio.Event) -> bool:
        done: dict[TopicPartition, int] = {}  # next offset per partition committed by the record-by-record pass
        settled = await self._with_retry(functools.partial(self._attempt, good, poison, offsets, done), stop)
        if settled:
            poison.clear()
        return settled

    async def _attempt(self, good: list[Incoming], poison: list[tuple[ConsumerRecord, PoisonRecord]],
                       offsets: dict[TopicPartition, int], done: dict[TopicPartition, int]) -> None:
        if not done:
            try:
                await self._in_transaction(functools.partial(self._whole, good, poison), offsets)
                return
            except Exception as exc:
                if is_retriable(exc):
                    raise
                log.warning("batch failed in its transaction; redoing it record by record",
                            extra={"group": self.group, "error": repr(exc)})
        items: list[tuple[ConsumerRecord, Incoming | PoisonRecord]] = [(i.record, i) for i in good] + list(poison)
        items.sort(key=lambda item: (item[0].topic, item[0].partition, item[0].offset))
        for record, what in items:
            tp = TopicPartition(record.topic, record.partition)
            if done.get(tp, -1) > record.offset:
                continue  # committed before a retriable failure interrupted this pass
            through = {tp: record.offset + 1}
            if isinstance(what, Incoming):
                try:
                    await self._in_transaction(functools.partial(self.handler, [what]), through)
                except Exception as exc:
                    if is_retriable(exc):
                        raise
                    await self._in_transaction(functools.partial(self._deadletter, [(record, _as_poison(exc))]),
                                               through)
            else:
                await self._in_transaction(functools.partial(self._deadletter, [(record, what)]), through)
            done[tp] = record.offset + 1

    async def _whole(self, good: list[Incoming], poison: list[tuple[ConsumerRecord, PoisonRecord]]) -> None:
        if good:
            await self.handler(good)
        if poison:
            await self._deadletter(list(poison))  # a copy: an aborted attempt must find them again

    async def _in_transaction(self, action: Callable[[], Awaitable[None]], offsets: dict[TopicPartition, int]) -> None:
        """`action`'s records and the consumer's `offsets` in one transaction; aborted on any failure."""
        producer = self.publisher.producer
        try:
            await producer.begin_transaction()
            try:
                await action()
                await producer.send_offsets_to_transaction(offsets, self.group)
            except BaseException:
                with contextlib.suppress(KafkaError):
                    await producer.abort_transaction()
                raise
            await producer.commit_transaction()
        except ProducerFenced as exc:
            raise ProducerFencedOut(f"{self.group}: this producer's transactional id is in use by a newer "
                                    f"process; stopping") from exc
