"""The skeleton every consuming service shares: HTTP, producer, consumer, loop, and maybe a database.

classify, route and notify differ in what they consume and what `handle` does; how they
start (HTTP first so probes answer, database and broker with retries, outbox leftovers
flushed before consuming anything new) and how they stop (consumer, producer, pool,
HTTP) is the same, and lives here once.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.config import ServiceSettings
from services.common.consumer_loop import ConsumeLoop, Incoming
from services.common.consumer_txn import TransactionalConsumeLoop
from services.common.db import create_pool
from services.common.dbservice import database_check
from services.common.http import ServiceHttp
from services.common.kafka import Publisher, make_consumer, make_producer, start_with_retry
from services.common.metrics import Metrics
from services.common.outbox import OutboxRelay
from services.common.runtime import Service


class ConsumerService(Service):
    """Subclasses set the class attributes and implement `handle`."""

    #: Topics consumed and the CloudEvents types accepted on them (others are dead-lettered).
    topics: tuple[str, ...] = ()
    expected_types: frozenset[str] = frozenset()
    #: Whether the service owns database state (then it also relays its outbox).
    uses_database: bool = False
    #: Whether its consume → produce step can run in Kafka transactions (HEATDESK_KAFKA_EXACTLY_ONCE):
    #: only for a service whose outputs all go to Kafka, not through a database outbox.
    transactional: bool = False

    def __init__(self, settings: ServiceSettings, group_id: str, port: int) -> None:
        self.settings = settings
        self.group_id = group_id
        self.grace_seconds = settings.shutdown_grace_seconds
        self.metrics = Metrics(self.name)
        self.http = ServiceHttp(self.metrics, settings.http_host, port)
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.publisher: Publisher | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.loop: ConsumeLoop | None = None
        self.relay: OutboxRelay | None = None

    @abc.abstractmethod
    async def handle(self, batch: Sequence[Incoming]) -> None:
        """Process a batch and make its outputs durable before returning."""

    def extra_tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return []

    async def extra_close(self) -> None:
        return None

    async def start(self) -> None:
        await self.http.start()  # probes answer (not ready) while dependencies come up
        self.http.add_check("consumer", self._consumer_readiness)  # not ready until the consumer runs
        if self.uses_database:
            self.http.add_check("database", database_check(lambda: self.pool))
            self.pool = await create_pool(self.settings.database_url, self.settings.db_pool_min,
                                          self.settings.db_pool_max)
        exactly_once = self.transactional and self.settings.kafka_exactly_once
        txn = {"transactional_id": self.settings.transactional_id(self.name)} if exactly_once else {}
        self.producer = make_producer(self.settings, self.name, **txn)
        await start_with_retry(self.producer.start, "kafka producer")
        # A transactional producer is never swapped under the loop that holds it; others are
        # replaced when their sequence numbers fall out of step with the broker's.
        self.publisher = Publisher(self.producer, renew=None if exactly_once else
                                   lambda: make_producer(self.settings, self.name))
        if self.pool is not None:
            self.relay = OutboxRelay(self.pool, self.publisher, self.name, self.metrics)
            await self.relay.flush()  # leftovers of a previous crash go out before anything new
        self.consumer = make_consumer(self.settings, self.name, self.group_id, self.topics)
        await start_with_retry(self.consumer.start, "kafka consumer")
        loop = TransactionalConsumeLoop if exactly_once else ConsumeLoop
        self.loop = loop(self.consumer, self.publisher, self.handle, metrics=self.metrics, group=self.group_id,
                         stage=self.name, expected_types=self.expected_types)

    async def _consumer_readiness(self) -> tuple[bool, str]:
        if self.loop is None:
            return False, "connecting to the broker"
        return await self.loop.readiness()

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        assert self.loop is not None
        tasks = [self.loop.run(stop)]
        if self.relay is not None:
            tasks.append(self.relay.run(stop))
        return tasks + self.extra_tasks(stop)

    async def close(self) -> None:
        await self.extra_close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.publisher is not None:
            await self.publisher.producer.stop()
        elif self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        await self.http.stop()


async def every(stop: asyncio.Event, interval_s: float, action: Any, log: Any) -> None:
    """Run `action` every `interval_s` until `stop`; failures are logged and retried next tick."""
    while not stop.is_set():
        try:
            await action()
        except Exception as exc:  # noqa: BLE001 - a periodic task must not kill the service
            log.warning("periodic task failed", extra={"task": getattr(action, "__name__", "?"), "error": repr(exc)})
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
