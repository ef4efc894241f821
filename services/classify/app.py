"""The classify service: `mentions.raw.v1` → spaCy pipeline → `mentions.classified.v1`.

Stateless: a plain consume-transform-produce loop on aiokafka. A batch's offsets are
committed after every classified record is acknowledged, so a crash re-classifies (same
input, same model, same output) and never skips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.classify.pipeline.rules import Classifier
from services.classify.settings import ClassifySettings
from services.common import settings as settings_loader
from services.common.consumer_loop import ConsumeLoop, Incoming
from services.common.envelope import Event
from services.common.errors import PoisonRecord
from services.common.http import ServiceHttp
from services.common.kafka import Publisher, make_consumer, make_producer, start_with_retry
from services.common.metrics import Metrics
from services.common.runtime import Service
from services.common.timeutil import parse_rfc3339, utcnow
from services.common.topics import MENTIONS_CLASSIFIED, MENTIONS_RAW, EventType

log = logging.getLogger(__name__)
SOURCE = "heatdesk/classify"


def _check_mention(data: dict[str, Any]) -> None:
    """The fields classify relies on; anything else is carried through untouched."""
    for field in ("id", "channel", "text", "author", "received_at"):
        if field not in data:
            raise PoisonRecord("schema_violation", f"mention lacks '{field}'")
    if not isinstance(data["text"], str) or not isinstance(data["author"], dict):
        raise PoisonRecord("schema_violation", "mention text must be a string and author an object")


class ClassifyService(Service):
    name = "classify"

    def __init__(self, settings: ClassifySettings) -> None:
        self.settings = settings
        self.grace_seconds = settings.shutdown_grace_seconds
        self.metrics = Metrics(self.name)
        self.http = ServiceHttp(self.metrics, settings.http_host, settings.classify_port)
        self.classifier = Classifier(batch_size=settings.classify_batch_size)
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.loop: ConsumeLoop | None = None

    async def start(self) -> None:
        await self.http.start()
        self.producer = make_producer(self.settings, self.name)
        await start_with_retry(self.producer.start, "kafka producer")
        self.consumer = make_consumer(self.settings, self.name, self.settings.classify_group_id, [MENTIONS_RAW])
        await start_with_retry(self.consumer.start, "kafka consumer")
        self.publisher = Publisher(self.producer)
        self.loop = ConsumeLoop(self.consumer, self.publisher, self.handle, metrics=self.metrics,
                                group=self.settings.classify_group_id, stage="classify",
                                expected_types=frozenset({EventType.MENTION_RECEIVED}))
        self.http.add_check("consumer", self.loop.readiness)

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        assert self.loop is not None
        return [self.loop.run(stop)]

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        await self.http.stop()

    async def handle(self, batch: Sequence[Incoming]) -> None:
        mentions = []
        for item in batch:
            _check_mention(item.event.data)
            mentions.append(item.event.data)
        started = time.perf_counter()
        results = self.classifier.classify(mentions)
        log.debug("classified batch", extra={"n": len(mentions), "seconds": time.perf_counter() - started})
        outgoing = []
        for item, mention, classification in zip(batch, mentions, results):
            data = {"mention": mention, "classification": classification}
            outgoing.append((MENTIONS_CLASSIFIED, Event(
                type=EventType.MENTION_CLASSIFIED, source=SOURCE, data=data, key=item.event.key,
                subject=mention["id"])))
        await self.publisher.publish_many(outgoing)
        now = utcnow()
        for mention, classification in zip(mentions, results):
            self.metrics.mentions_classified.labels(classification["department"], classification["intent"]).inc()
            self.metrics.pipeline_latency.labels("classify").observe(_since(mention["received_at"], now))


def _since(received_at: str, now: Any) -> float:
    try:
        return max(0.0, (now - parse_rfc3339(received_at)).total_seconds())
    except ValueError:
        return 0.0


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(ClassifySettings)
    logconf.configure("classify", settings.log_level)
    return run(ClassifyService(settings))
