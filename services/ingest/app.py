"""The ingest service: channel webhooks and APIs in, `mentions.raw.v1` and `responses.v1` out.

A 2xx means the broker acknowledged every record (acks=all): what ingest answered for is
durable. If the broker cannot acknowledge in time, or too many publishes are already in
flight, the caller gets 503 with Retry-After and retries; nothing is dropped silently.
A record answered 503 may still reach the broker later (the producer keeps retrying for
`HEATDESK_KAFKA_REQUEST_TIMEOUT_MS`); the caller's retry then carries the same mention id
and route's unique mention id makes the pair one mention.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiokafka import AIOKafkaProducer

from services.common import settings as settings_loader
from services.common.errors import ConfigError
from services.common.http import ServiceHttp
from services.common.kafka import Publisher, make_producer, start_with_retry
from services.common.metrics import Metrics
from services.common.runtime import Service
from services.ingest.api import IngestApi
from services.ingest.auth import parse_tokens
from services.ingest.publish import IngestPublisher
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


class IngestService(Service):
    name = "ingest"

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.grace_seconds = settings.shutdown_grace_seconds
        try:
            tokens = parse_tokens(settings.ingest_api_tokens)
        except ValueError as exc:
            raise ConfigError(f"HEATDESK_INGEST_API_TOKENS: {exc}") from exc
        self.metrics = Metrics(self.name)
        self.http = ServiceHttp(self.metrics, settings.http_host, settings.ingest_port,
                                client_max_size=settings.ingest_max_body_bytes)
        self.producer: AIOKafkaProducer | None = None
        self.kafka: Publisher | None = None
        self.publisher: IngestPublisher | None = None
        self.api = IngestApi(settings, self.metrics, lambda: self.publisher, tokens)
        self.api.register(self.http.app)
        self.http.add_check("kafka", self._kafka_ready)

    async def start(self) -> None:
        if not self.api.tokens:
            log.warning("no HEATDESK_INGEST_API_TOKENS: /v1/mentions, /v1/responses and email accept "
                        "unauthenticated posts (development only)")
        # HTTP first: while the broker is unreachable, probes answer and posts get 503 with
        # Retry-After (the publisher is not there yet) instead of a refused connection.
        await self.http.start()
        self.producer = make_producer(self.settings, self.name)
        await start_with_retry(self.producer.start, "kafka producer")
        self.kafka = Publisher(self.producer, renew=lambda: make_producer(self.settings, self.name))
        self.publisher = IngestPublisher(self.kafka, self.metrics, self.settings.ingest_recent_ids)

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return []  # all work happens in request handlers

    async def close(self) -> None:
        await self.http.stop()
        await self.api.close()
        if self.kafka is not None:
            await self.kafka.producer.stop()  # the one in use (a renewal replaces the first)
        elif self.producer is not None:
            await self.producer.stop()

    async def _kafka_ready(self) -> tuple[bool, str]:
        if self.publisher is None or self.kafka is None:
            return False, "connecting to the broker"
        client = self.kafka.producer.client
        for broker in client.cluster.brokers():
            if await client.ready(broker.nodeId):
                return True, "broker connected"
        return False, "no broker connection"


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(IngestSettings)
    logconf.configure("ingest", settings.log_level)
    return run(IngestService(settings), gc_tuning=settings.gc_tuning)
