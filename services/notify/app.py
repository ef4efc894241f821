"""The notify service: case events arm SLA timers; a scanner fires them; senders deliver.

Three loops, each safe to run on any number of replicas:
- consume `cases.events.v1` and arm/stop timers (offsets committed after the DB commit);
- scan due timers (`SKIP LOCKED`), fire each once, write alerts to the outbox and flush
  it to `sla.alerts.v1`;
- deliver pending notifications to the webhook with retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common import settings as settings_loader
from services.common.clock import Clock, WallClock
from services.common.consumer_loop import ConsumeLoop, Incoming
from services.common.db import create_pool
from services.common.dbservice import database_check
from services.common.errors import PoisonRecord
from services.common.http import ServiceHttp
from services.common.kafka import Publisher, make_consumer, make_producer, start_with_retry
from services.common.metrics import Metrics
from services.common.outbox import OutboxRelay, enqueue
from services.common.runtime import Service
from services.common.topics import CASE_EVENTS, EventType
from services.notify.delivery import Sender, deliver_due
from services.notify.senders.webhook import WebhookSender
from services.notify.settings import NotifySettings
from services.notify.timers import arm_first_response, fire_due

log = logging.getLogger(__name__)
PRODUCER = "notify"
CASE_EVENT_TYPES = frozenset({EventType.CASE_OPENED, EventType.CASE_MENTION_ADDED, EventType.CASE_RESPONDED})


class NotifyService(Service):
    name = "notify"

    def __init__(self, settings: NotifySettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.grace_seconds = settings.shutdown_grace_seconds
        self.clock = clock or WallClock()
        self.metrics = Metrics(self.name)
        self.http = ServiceHttp(self.metrics, settings.http_host, settings.notify_port)
        self.senders: dict[str, Sender] = {}
        if settings.notify_webhook_url:
            self.senders["webhook"] = WebhookSender(settings.notify_webhook_url, settings.notify_webhook_timeout_s)
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.loop: ConsumeLoop | None = None
        self.relay: OutboxRelay | None = None

    async def start(self) -> None:
        await self.http.start()
        self.http.add_check("database", database_check(lambda: self.pool))
        self.pool = await create_pool(self.settings.database_url, self.settings.db_pool_min, self.settings.db_pool_max)
        self.producer = make_producer(self.settings, self.name)
        await start_with_retry(self.producer.start, "kafka producer")
        publisher = Publisher(self.producer)
        self.relay = OutboxRelay(self.pool, publisher, PRODUCER, self.metrics)
        await self.relay.flush()
        self.consumer = make_consumer(self.settings, self.name, self.settings.notify_group_id, [CASE_EVENTS])
        await start_with_retry(self.consumer.start, "kafka consumer")
        self.loop = ConsumeLoop(self.consumer, publisher, self.handle, metrics=self.metrics,
                                group=self.settings.notify_group_id, stage="notify", expected_types=CASE_EVENT_TYPES)
        self.http.add_check("consumer", self.loop.readiness)

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        assert self.loop is not None and self.relay is not None
        return [self.loop.run(stop), self.relay.run(stop), self._every(stop, self.scan_once),
                self._every(stop, self.deliver_once)]

    async def close(self) -> None:
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        await self.http.stop()

    async def handle(self, batch: Sequence[Incoming]) -> None:
        assert self.pool is not None
        armed = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for item in batch:
                if item.event.type != EventType.CASE_OPENED:
                    continue  # next-response and resolution timers arrive with the SLA issue
                case = item.event.data.get("case")
                if not isinstance(case, dict) or not all(k in case for k in ("id", "department", "priority", "channel",
                                                                              "opened_at")):
                    raise PoisonRecord("schema_violation", "case.opened lacks the case snapshot")
                try:
                    armed += await arm_first_response(conn, case)
                except ValueError as exc:
                    raise PoisonRecord("schema_violation", str(exc)) from exc
        if armed:
            self.metrics.sla_timers_armed.labels("first_response").inc(armed)

    async def scan_once(self) -> int:
        """Fire every due timer now; return how many fired."""
        assert self.pool is not None and self.relay is not None
        total = 0
        while True:
            now = self.clock.now()
            async with self.pool.acquire() as conn, conn.transaction():
                fired, events = await fire_due(conn, now, self.settings.notify_scan_batch, list(self.senders))
                await enqueue(conn, PRODUCER, events)
            for timer in fired:
                self.metrics.sla_breaches.labels(timer.department, timer.kind).inc()
                log.info("sla breached", extra={"case_id": timer.case_id, "timer": timer.kind,
                                                "department": timer.department, "priority": timer.priority})
            total += len(fired)
            if fired:
                await self.relay.flush()
            if len(fired) < self.settings.notify_scan_batch:
                return total

    async def deliver_once(self) -> int:
        assert self.pool is not None
        if not self.senders:
            return 0
        return await deliver_due(self.pool, self.senders, self.metrics, lease_s=self.settings.notify_lease_s,
                                 max_attempts=self.settings.notify_max_attempts)

    async def _every(self, stop: asyncio.Event, action: Any) -> None:
        while not stop.is_set():
            try:
                await action()
            except Exception as exc:  # noqa: BLE001 - logged, retried next tick
                log.warning("periodic task failed", extra={"task": action.__name__, "error": repr(exc)})
            try:
                await asyncio.wait_for(stop.wait(), self.settings.notify_scan_interval_s)
            except asyncio.TimeoutError:
                pass


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(NotifySettings)
    logconf.configure("notify", settings.log_level)
    return run(NotifyService(settings))
