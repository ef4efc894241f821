"""The route service: `mentions.classified.v1` → cases in PostgreSQL → case topics.

For each batch: one database transaction threads every mention into a case and writes
the events to the outbox; after the commit the outbox is flushed to
`cases.<department>.v1` and `cases.events.v1`; only then are the offsets committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common import settings as settings_loader
from services.common.consumer_loop import ConsumeLoop, Incoming
from services.common.db import create_pool
from services.common.dbservice import database_check
from services.common.errors import PoisonRecord
from services.common.http import ServiceHttp
from services.common.kafka import Publisher, make_consumer, make_producer, start_with_retry
from services.common.metrics import Metrics
from services.common.outbox import OutboxRelay, enqueue
from services.common.runtime import Service
from services.common.sla import validate_targets
from services.common.timeutil import parse_rfc3339, utcnow
from services.common.topics import DEPARTMENTS, MENTIONS_CLASSIFIED, EventType
from services.route.cases import RouteResult, open_cases_by_department, route_mention
from services.route.settings import RouteSettings

log = logging.getLogger(__name__)
PRODUCER = "route"


def _check(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    mention, classification = data.get("mention"), data.get("classification")
    if not isinstance(mention, dict) or not isinstance(classification, dict):
        raise PoisonRecord("schema_violation", "expected {mention, classification} objects")
    try:
        for field in ("id", "channel", "external_id", "text", "created_at", "received_at"):
            if field not in mention:
                raise PoisonRecord("schema_violation", f"mention lacks '{field}'")
        if "id" not in mention["author"]:
            raise PoisonRecord("schema_violation", "mention author lacks 'id'")
        parse_rfc3339(mention["created_at"])
        parse_rfc3339(mention["received_at"])
        if classification["priority"]["bucket"] not in ("critical", "high", "normal", "low"):
            raise PoisonRecord("schema_violation", "unknown priority bucket")
        int(classification["priority"]["score"])
        if classification["department"] not in DEPARTMENTS:
            raise PoisonRecord("unknown_department", str(classification["department"])[:100])
    except (KeyError, TypeError, ValueError) as exc:
        raise PoisonRecord("schema_violation", f"{type(exc).__name__}: {exc}") from exc
    return mention, classification


class RouteService(Service):
    name = "route"

    def __init__(self, settings: RouteSettings) -> None:
        self.settings = settings
        self.grace_seconds = settings.shutdown_grace_seconds
        self.targets = validate_targets(settings.sla_first_response_targets)
        self.window = timedelta(seconds=settings.route_thread_window_s)
        self.metrics = Metrics(self.name)
        self.http = ServiceHttp(self.metrics, settings.http_host, settings.route_port)
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
        await self.relay.flush()  # leftovers of a previous crash go out before anything new
        self.consumer = make_consumer(self.settings, self.name, self.settings.route_group_id, [MENTIONS_CLASSIFIED])
        await start_with_retry(self.consumer.start, "kafka consumer")
        self.loop = ConsumeLoop(self.consumer, publisher, self.handle, metrics=self.metrics,
                                group=self.settings.route_group_id, stage="route",
                                expected_types=frozenset({EventType.MENTION_CLASSIFIED}))
        self.http.add_check("consumer", self.loop.readiness)

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        assert self.loop is not None and self.relay is not None
        return [self.loop.run(stop), self.relay.run(stop), self._refresh_open_cases(stop)]

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        await self.http.stop()

    async def handle(self, batch: Sequence[Incoming]) -> None:
        assert self.pool is not None and self.relay is not None
        parsed = [_check(item.event.data) for item in batch]
        results: list[RouteResult] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for mention, classification in parsed:
                results.append(await route_mention(conn, mention, classification,
                                                   targets=self.targets, window=self.window))
            await enqueue(conn, PRODUCER, [e for r in results for e in r.events])
        await self.relay.flush()
        now = utcnow()
        for (mention, _), result in zip(parsed, results):
            self.metrics.mentions_routed.labels(result.department, result.outcome).inc()
            if result.outcome == "opened":
                self.metrics.cases_opened.labels(result.department, result.priority).inc()
            if result.outcome != "duplicate":
                latency = (now - parse_rfc3339(mention["received_at"])).total_seconds()
                self.metrics.pipeline_latency.labels("route").observe(max(0.0, latency))

    async def _refresh_open_cases(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                assert self.pool is not None
                async with self.pool.acquire() as conn:
                    counts = await open_cases_by_department(conn)
                for department, n in counts.items():
                    self.metrics.open_cases.labels(department).set(n)
            except Exception as exc:  # noqa: BLE001 - a gauge refresh must not stop the service
                log.warning("open-cases refresh failed", extra={"error": repr(exc)})
            try:
                await asyncio.wait_for(stop.wait(), self.settings.route_open_cases_refresh_s)
            except asyncio.TimeoutError:
                pass


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(RouteSettings)
    logconf.configure("route", settings.log_level)
    return run(RouteService(settings))
