"""Producer, consumer and admin factories, and the publisher every service uses.

One place builds Kafka clients from `ServiceSettings`, so security, timeouts and
client ids are the same everywhere and production switches on TLS/SASL or idempotence by
environment only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
)
from aiokafka.helpers import create_ssl_context

from services.common.config import ServiceSettings
from services.common.envelope import Event
from services.common.errors import DependencyUnavailable, PublishFailed, RecordRejected
from services.common.topics import TopicSpec

log = logging.getLogger(__name__)

#: Broker answers about the record itself: retrying the same record cannot succeed.
RECORD_ERRORS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException,
    InvalidMessageError, InvalidTimestampError,
)


def _publish_error(exc: KafkaError) -> Exception:
    """Sort a broker error: the record is bad (RecordRejected) or the broker is not there (PublishFailed).

    Anything not known to be about the record counts as the broker being unavailable: a
    wrongly retried record stalls a partition visibly (not-ready, retry metric), while a
    wrongly dead-lettered one would be lost quietly.
    """
    if isinstance(exc, RECORD_ERRORS):
        return RecordRejected(f"broker rejected the record: {exc!r}")
    return PublishFailed(f"broker did not acknowledge: {exc!r}")


def _client_options(settings: ServiceSettings, service: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.kafka_client_id_prefix}-{service}",
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context()
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def make_producer(settings: ServiceSettings, service: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas: an ack means the record is durable."""
    options = _client_options(settings, service)
    options.update(
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        retry_backoff_ms=200,
    )
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(settings: ServiceSettings, service: str, group_id: str, topics: Iterable[str],
                  **overrides: Any) -> AIOKafkaConsumer:
    """A group consumer that never auto-commits: offsets are committed after outputs are durable."""
    options = _client_options(settings, service)
    options.update(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        max_poll_records=500,
    )
    instance_id = settings.instance_id(service)
    if instance_id:
        options["group_instance_id"] = instance_id
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


class Publisher:
    """Publishes CloudEvents and returns only once the broker acknowledged them."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, topic: str, event: Event) -> None:
        await self.publish_many([(topic, event)])

    async def publish_many(self, items: Iterable[tuple[str, Event]]) -> None:
        """Send all, then wait for every acknowledgement; raise PublishFailed if any is missing."""
        try:
            futures = [
                await self._producer.send(topic, value=event.body(), key=event.key_bytes(), headers=event.headers())
                for topic, event in items
            ]
            if futures:
                await asyncio.gather(*futures)
        except KafkaError as exc:
            raise _publish_error(exc) from exc

    async def publish_rows(self, rows: Iterable[tuple[str, str | None, list[tuple[str, bytes]], bytes]]) -> None:
        """Publish pre-encoded (topic, key, headers, value) rows, e.g. from the outbox."""
        try:
            futures = [await self._producer.send(topic, value=value, key=key.encode() if key is not None else None,
                                                 headers=headers) for topic, key, headers, value in rows]
            if futures:
                await asyncio.gather(*futures)
        except KafkaError as exc:
            raise _publish_error(exc) from exc

    async def publish_raw(self, topic: str, value: bytes | None, key: bytes | None,
                          headers: list[tuple[str, bytes]]) -> None:
        try:
            await self._producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except KafkaError as exc:
            raise _publish_error(exc) from exc


async def ensure_topics(settings: ServiceSettings, specs: Iterable[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; return the names it created. Existing topics are left alone."""
    admin = AIOKafkaAdminClient(**_client_options(settings, "admin"), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaError, OSError) as exc:
        raise DependencyUnavailable(f"Kafka at {settings.kafka_bootstrap_servers} did not answer: {exc!r}") from exc
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if s.name not in existing]
        created = []
        for spec in wanted:
            try:
                await admin.create_topics([NewTopic(spec.name, num_partitions=settings.topic_partitions,
                                                    replication_factor=settings.topic_replication_factor,
                                                    topic_configs=spec.config)])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        await admin.close()


async def start_with_retry(start: Callable[[], Awaitable[None]], what: str, attempts: int = 60) -> None:
    """Start a Kafka client, waiting (with backoff) for a broker that is still coming up."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            await start()
            return
        except (KafkaConnectionError, OSError) as exc:
            if attempt == attempts:
                raise DependencyUnavailable(f"{what}: broker unreachable after {attempts} attempts: {exc!r}") from exc
            log.warning("broker unreachable, retrying", extra={"client": what, "attempt": attempt, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
