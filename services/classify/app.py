"""The classify service: `mentions.raw.v1` → spaCy pipeline → `mentions.classified.v1`.

Stateless: a plain consume-transform-produce loop on aiokafka. A batch's offsets are
committed after every classified record is acknowledged, so a crash re-classifies (same
input, same model, same output) and never skips. On Apache Kafka with
HEATDESK_KAFKA_EXACTLY_ONCE the outputs and the offsets commit in one transaction instead
(services/common/consumer_txn.py): no duplicate for a read_committed subscriber either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from services.classify.pipeline.classifier import Classifier
from services.classify.settings import ClassifySettings
from services.common import settings as settings_loader
from services.common.consumer_loop import Incoming
from services.common.consumer_service import ConsumerService
from services.common.envelope import Event
from services.common.errors import PoisonRecord
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


class ClassifyService(ConsumerService):
    name = "classify"
    topics = (MENTIONS_RAW,)
    expected_types = frozenset({EventType.MENTION_RECEIVED})
    transactional = True  # every output goes to Kafka: exactly-once on Kafka with HEATDESK_KAFKA_EXACTLY_ONCE

    def __init__(self, settings: ClassifySettings) -> None:
        super().__init__(settings, settings.classify_group_id, settings.classify_port)
        # Built here, once per process: the model and the rules load before the consumer starts.
        self.classifier = Classifier(batch_size=settings.classify_batch_size, config=settings.classify_config or None)

    async def handle(self, batch: Sequence[Incoming]) -> None:
        mentions = []
        for item in batch:
            _check_mention(item.event.data)
            mentions.append(item.event.data)
        started = time.perf_counter()
        results = self.classifier.classify(mentions)
        log.debug("classified batch", extra={"n": len(mentions), "seconds": time.perf_counter() - started})
        outgoing = []
        for item, mention, classification in zip(batch, mentions, results, strict=True):
            data = {"mention": mention, "classification": classification}
            outgoing.append((MENTIONS_CLASSIFIED, Event(
                type=EventType.MENTION_CLASSIFIED, source=SOURCE, data=data, key=item.event.key,
                subject=mention["id"])))
        assert self.publisher is not None
        await self.publisher.publish_many(outgoing)
        now = utcnow()
        for mention, classification in zip(mentions, results, strict=True):
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
    return run(ClassifyService(settings), gc_tuning=settings.gc_tuning)
