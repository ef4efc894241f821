"""The ingest service: HTTP in, `mentions.raw.v1` out.

A 202 means the broker acknowledged the record (acks=all): what ingest answered for is
durable. If the broker cannot acknowledge in time, or too many publishes are already in
flight, the caller gets 503 with Retry-After and retries; nothing is dropped silently.
A record answered 503 may still reach the broker later (the producer keeps retrying for
`HEATDESK_KAFKA_REQUEST_TIMEOUT_MS`); the caller's retry then carries the same mention id
and route's unique mention id makes the pair one mention.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer

from services.common import settings as settings_loader
from services.common.channels import CHANNELS, conversation_key
from services.common.envelope import Event
from services.common.errors import InvalidInput, PublishFailed, RecordRejected
from services.common.http import ServiceHttp
from services.common.kafka import Publisher, make_producer, start_with_retry
from services.common.metrics import Metrics
from services.common.problem import problem
from services.common.runtime import Service
from services.common.timeutil import utcnow
from services.common.topics import MENTIONS_RAW, EventType
from services.ingest.generic import parse_generic_mention
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

SOURCE = "heatdesk/ingest"
JSON_TYPES = ("application/json",)


class IngestService(Service):
    name = "ingest"

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.grace_seconds = settings.shutdown_grace_seconds
        self.metrics = Metrics(self.name)
        self.http = ServiceHttp(self.metrics, settings.http_host, settings.ingest_port,
                                client_max_size=settings.ingest_max_body_bytes)
        self.http.app.router.add_post("/v1/mentions", self.post_mention)
        self.http.add_check("kafka", self._kafka_ready)
        self.producer: AIOKafkaProducer | None = None
        self.publisher: Publisher | None = None
        self._in_flight = 0

    async def start(self) -> None:
        self.producer = make_producer(self.settings, self.name)
        await start_with_retry(self.producer.start, "kafka producer")
        self.publisher = Publisher(self.producer)
        await self.http.start()

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return []  # all work happens in request handlers

    async def close(self) -> None:
        await self.http.stop()
        if self.producer is not None:
            await self.producer.stop()

    async def _kafka_ready(self) -> tuple[bool, str]:
        assert self.producer is not None
        client = self.producer.client
        for broker in client.cluster.brokers():
            if await client.ready(broker.nodeId):
                return True, "broker connected"
        return False, "no broker connection"

    def _reject(self, channel: str, reason: str, resp: web.Response) -> web.Response:
        self.metrics.mentions_rejected.labels(channel, reason).inc()
        return resp

    async def post_mention(self, request: web.Request) -> web.Response:
        received_at = utcnow()
        started = time.perf_counter()
        if request.content_type not in JSON_TYPES and not request.content_type.endswith("+json"):
            return self._reject("unknown", "unsupported_media_type", problem(
                415, "unsupported-media-type", "Unsupported media type",
                f"Send application/json, not {request.content_type or 'no content type'}."))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject("unknown", "too_large", problem(
                413, "payload-too-large", "Payload too large",
                f"The body exceeds {self.settings.ingest_max_body_bytes} bytes."))
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._reject("unknown", "invalid_json", problem(400, "invalid-json", "Body is not valid JSON", str(exc)))
        try:
            mention = parse_generic_mention(body, received_at)
        except InvalidInput as exc:
            channel = body.get("channel") if isinstance(body, dict) else None
            label = channel if isinstance(channel, str) and channel in CHANNELS else "unknown"
            return self._reject(label, "invalid", problem(422, "invalid-mention", exc.title, errors=exc.errors))
        channel = mention["channel"]
        if self._in_flight >= self.settings.ingest_max_in_flight:
            return self._reject(channel, "overloaded", problem(
                503, "overloaded", "Too many mentions in flight", "Retry after the indicated delay.",
                headers={"Retry-After": "1"}))
        event = Event(type=EventType.MENTION_RECEIVED, source=SOURCE, data=mention,
                      key=conversation_key(channel, mention["author"]["id"]), subject=mention["id"],
                      time=received_at)
        self._in_flight += 1
        try:
            assert self.publisher is not None
            await asyncio.wait_for(self.publisher.publish(MENTIONS_RAW, event), self.settings.ingest_publish_timeout_s)
        except RecordRejected as exc:
            return self._reject(channel, "too_large", problem(
                413, "payload-too-large", "The broker refused the mention", str(exc)))
        except (TimeoutError, PublishFailed) as exc:
            log.warning("publish failed; answering 503", extra={"error": repr(exc)})
            retry = str(self.settings.ingest_retry_after_s)
            return self._reject(channel, "broker_unavailable", problem(
                503, "broker-unavailable", "The broker did not acknowledge the mention",
                "Nothing was accepted; retry after the indicated delay.", headers={"Retry-After": retry}))
        finally:
            self._in_flight -= 1
        self.metrics.mentions_ingested.labels(channel).inc()
        self.metrics.pipeline_latency.labels("ingest").observe(time.perf_counter() - started)
        return web.Response(status=202, content_type="application/json",
                            body=orjson.dumps({"id": mention["id"]}))


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(IngestSettings)
    logconf.configure("ingest", settings.log_level)
    return run(IngestService(settings))
