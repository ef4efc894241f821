"""Producer, consumer and admin factories, and the publisher every service uses.

One place builds Kafka clients from `ServiceSettings`, so security, timeouts and
client ids are the same everywhere and production switches on TLS/SASL or idempotence by
environment only:

- TLS (`SSL`, `SASL_SSL`): the broker's certificate is verified against
  `HEATDESK_KAFKA_SSL_CAFILE` (else the system CAs) and its host name checked; mutual TLS
  with `HEATDESK_KAFKA_SSL_CERTFILE`/`_KEYFILE` (`_KEY_PASSWORD` for an encrypted key);
- SASL: PLAIN and SCRAM-SHA-256/512 with user name and password, OAUTHBEARER with a
  token from an OAuth 2.0 token endpoint (client credentials) or from a token file that is
  re-read at each authentication. Use SASL over TLS (`SASL_SSL`) anywhere but loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidProducerEpoch,
    InvalidSessionTimeoutError,
    InvalidTimestampError,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from services.common.config import ServiceSettings
from services.common.envelope import Event
from services.common.errors import ConfigError, DependencyUnavailable, PublishFailed, RecordRejected
from services.common.partitioner import KeyPartitioner
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


class FileTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER token read from a file at every authentication.

    A Kubernetes projected service-account token (or a sidecar that refreshes a token)
    is rotated in place; reading it each time means a reconnect always presents the
    current one.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    async def token(self) -> str:
        try:
            text = await asyncio.to_thread(Path(self.path).read_text, encoding="utf-8")
        except OSError as exc:
            raise DependencyUnavailable(f"OAUTHBEARER token file {self.path!r} cannot be read: {exc.strerror}") from exc
        token = text.strip()
        if not token:
            raise DependencyUnavailable(f"OAUTHBEARER token file {self.path!r} is empty")
        return token


class ClientCredentialsTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER token from an OAuth 2.0 token endpoint (client-credentials grant, RFC 6749 4.4).

    The client authenticates with HTTP Basic (RFC 6749 2.3.1). The token is reused until a
    minute before it expires (`expires_in`), so reconnects of every client of the process
    share one token; one request at a time refreshes it.
    """

    def __init__(self, url: str, client_id: str, client_secret: str, scope: str = "", timeout_s: float = 10.0,
                 refresh_margin_s: float = 60.0) -> None:
        self.url, self.client_id, self.client_secret, self.scope = url, client_id, client_secret, scope
        self.timeout_s, self.refresh_margin_s = timeout_s, refresh_margin_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._token, lifetime = await self._fetch()
                self._expires_at = time.monotonic() + max(0.0, lifetime - self.refresh_margin_s)
            return self._token

    async def _fetch(self) -> tuple[str, float]:
        import aiohttp

        form = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})}
        auth = aiohttp.BasicAuth(self.client_id, self.client_secret)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http:
                async with http.post(self.url, data=form, auth=auth, headers={"Accept": "application/json"}) as resp:
                    body = await resp.json(content_type=None)
                    if resp.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
                        error = body.get("error") if isinstance(body, dict) else None
                        raise DependencyUnavailable(f"token endpoint answered {resp.status} ({error or 'no token'})")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DependencyUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        self.fetched += 1
        return str(body["access_token"]), float(body.get("expires_in") or 300)


#: One token provider per process and configuration: every client shares its cached token.
_token_providers: dict[tuple[str, ...], AbstractTokenProvider] = {}


def token_provider(settings: ServiceSettings) -> AbstractTokenProvider:
    """The OAUTHBEARER token source the settings name: a token endpoint, else a token file."""
    if settings.kafka_sasl_oauth_token_url:
        key = ("url", settings.kafka_sasl_oauth_token_url, settings.kafka_sasl_oauth_client_id,
               settings.kafka_sasl_oauth_client_secret, settings.kafka_sasl_oauth_scope)
        if not settings.kafka_sasl_oauth_client_id:
            raise ConfigError("HEATDESK_KAFKA_SASL_OAUTH_TOKEN_URL needs HEATDESK_KAFKA_SASL_OAUTH_CLIENT_ID (and _SECRET)")
        if key not in _token_providers:
            _token_providers[key] = ClientCredentialsTokenProvider(
                settings.kafka_sasl_oauth_token_url, settings.kafka_sasl_oauth_client_id,
                settings.kafka_sasl_oauth_client_secret, settings.kafka_sasl_oauth_scope)
        return _token_providers[key]
    if settings.kafka_sasl_oauth_token_path:
        return FileTokenProvider(settings.kafka_sasl_oauth_token_path)
    raise ConfigError("HEATDESK_KAFKA_SASL_MECHANISM=OAUTHBEARER needs HEATDESK_KAFKA_SASL_OAUTH_TOKEN_URL (client "
                      "credentials) or HEATDESK_KAFKA_SASL_OAUTH_TOKEN_PATH (a token file)")


def ssl_context(settings: ServiceSettings) -> ssl.SSLContext:
    """TLS towards the brokers: their certificate verified against the CA file (else the system
    CAs) and their host name checked; a client certificate when mutual TLS is configured."""
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        raise ConfigError("HEATDESK_KAFKA_SSL_KEYFILE is set without HEATDESK_KAFKA_SSL_CERTFILE")
    try:
        return create_ssl_context(cafile=settings.kafka_ssl_cafile or None,
                                  certfile=settings.kafka_ssl_certfile or None,
                                  keyfile=settings.kafka_ssl_keyfile or None,
                                  password=settings.kafka_ssl_key_password or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"Kafka TLS files (HEATDESK_KAFKA_SSL_CAFILE/_CERTFILE/_KEYFILE) unusable: {exc}") from exc


def _client_options(settings: ServiceSettings, service: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.kafka_client_id_prefix}-{service}",
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        mechanism = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = token_provider(settings)
        else:
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def make_producer(settings: ServiceSettings, service: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas: an ack means the record is durable.

    Batches are compressed (`HEATDESK_KAFKA_COMPRESSION_TYPE`, zstd by default): a classified
    mention or a routed case is 1-3 kB of JSON, and the broker stores, copies and serves every
    byte of it to each consumer group. zstd, not lz4: aiokafka compresses lz4 at level 9 (HC),
    3.6 us a 1.2 kB record against zstd's 0.8 (plus 0.3 to decode), for a smaller result
    (10x against 15x on classified mentions).
    """
    options = _client_options(settings, service)
    compression = settings.kafka_compression_type
    options.update(
        acks="all",
        compression_type=None if compression == "none" else compression,
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        retry_backoff_ms=200,
        partitioner=KeyPartitioner(),
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
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        # With exactly-once on, records of aborted transactions (a classify killed mid-batch)
        # must stay invisible: read only up to the last stable offset.
        isolation_level="read_committed" if settings.kafka_exactly_once else "read_uncommitted",
    )
    instance_id = settings.instance_id(service)
    if instance_id:
        options["group_instance_id"] = instance_id
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


#: An idempotent producer out of step with the broker: a batch expired in the client while the
#: broker was away, so the sequence numbers that follow have a gap the broker refuses. aiokafka
#: never resets them (aio-libs/aiokafka#1017): every later send fails the same way, until the
#: producer is replaced by one with a new producer id. Found by the Kafka lane's broker restart.
DESYNCED_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)


class Publisher:
    """Publishes CloudEvents and returns only once the broker acknowledged them.

    `renew` makes a fresh (not started) producer; with it, a producer whose sequence numbers
    went out of step with the broker's is replaced, and the failed publish is retriable.
    """

    def __init__(self, producer: AIOKafkaProducer, renew: Callable[[], AIOKafkaProducer] | None = None) -> None:
        self._producer = producer
        self._renew = renew
        self._renewing = asyncio.Lock()

    @property
    def producer(self) -> AIOKafkaProducer:
        """The producer in use now (another one after a renewal): the one to stop at shutdown."""
        return self._producer

    async def _failed(self, producer: AIOKafkaProducer, exc: KafkaError) -> Exception:
        """The error to raise for `exc`; replaces `producer` first when it is out of step."""
        if self._renew is not None and isinstance(exc, DESYNCED_PRODUCER_ERRORS):
            async with self._renewing:
                if self._producer is producer:  # not yet replaced by a concurrent publish
                    fresh = self._renew()
                    await fresh.start()
                    self._producer = fresh
                    log.warning("producer replaced: its sequence numbers were out of step with the broker's",
                                extra={"error": repr(exc)})
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), 10)
            return PublishFailed(f"producer out of step with the broker, replaced; retry: {exc!r}")
        return _publish_error(exc)

    async def publish(self, topic: str, event: Event) -> None:
        await self.publish_many([(topic, event)])

    async def publish_many(self, items: Iterable[tuple[str, Event]]) -> None:
        """Send all, then wait for every acknowledgement; raise PublishFailed if any is missing."""
        await self.publish_rows([(topic, event.key, event.headers(), event.body()) for topic, event in items])

    async def publish_rows(self, rows: Sequence[tuple[str, str | None, list[tuple[str, bytes]], bytes]]) -> None:
        """Publish pre-encoded (topic, key, headers, value) rows in order, e.g. from the outbox;
        return once the broker acknowledged every one (else PublishFailed or RecordRejected)."""
        producer = self._producer
        try:
            if len(rows) > 1 and all(key is not None for _, key, _, _ in rows):
                futures = await self._send_batches(producer, rows)
            else:  # one post (ingest), or unkeyed rows: the producer's per-record path
                futures = [await producer.send(topic, value=value, key=key.encode() if key is not None else None,
                                           headers=headers) for topic, key, headers, value in rows]
            if len(futures) == 1:  # one post: no gathering future
                await futures[0]
            elif futures:
                await asyncio.gather(*futures)
        except KafkaError as exc:
            raise await self._failed(producer, exc) from exc

    @staticmethod
    async def _send_batches(producer: AIOKafkaProducer,
                            rows: Sequence[tuple[str, str | None, list[tuple[str, bytes]], bytes]]
                            ) -> list[asyncio.Future[Any]]:
        """Queue the rows as one record batch per partition (`send_batch`), split where a batch is full.

        `send` costs a coroutine, a metadata check and a future per record: a quarter of
        classify's publishing and most of route's. Rows are partitioned exactly as `send` does
        (the producer's own partitioner, so the same key lands where it always did) and keep
        their order within each partition, the only order Kafka has. Sizes are checked as
        `send` checks them, so an oversized record is still RecordRejected. (`_partition` and
        `_max_request_size` are aiokafka internals; the version is pinned below 0.15.)
        """
        grouped: dict[tuple[str, int], list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = {}
        known: set[str] = set()
        for topic, key, headers, value in rows:
            if topic not in known:
                await producer.partitions_for(topic)  # waits for the topic's metadata, as send does
                known.add(topic)
            key_bytes = key.encode()  # type: ignore[union-attr]  # the caller checked: every row has a key
            if DefaultRecordBatchBuilder.estimate_size_in_bytes(key_bytes, value, headers) > producer._max_request_size:
                raise MessageSizeTooLargeError(f"a record for {topic} is larger than max_request_size")
            partition = producer._partition(topic, None, None, None, key_bytes, value)
            grouped.setdefault((topic, partition), []).append((key_bytes, value, headers))
        futures = []
        for (topic, partition), records in grouped.items():
            batch = producer.create_batch()
            for key_bytes, value, headers in records:
                if batch.append(key=key_bytes, value=value, timestamp=None, headers=headers) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key_bytes, value=value, timestamp=None, headers=headers)
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures

    async def publish_raw(self, topic: str, value: bytes | None, key: bytes | None,
                          headers: list[tuple[str, bytes]]) -> None:
        producer = self._producer
        try:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except KafkaError as exc:
            raise await self._failed(producer, exc) from exc


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
        except InvalidSessionTimeoutError as exc:
            raise ConfigError(f"{what}: the broker refuses the session timeout (HEATDESK_KAFKA_SESSION_TIMEOUT_MS): "
                              f"it must lie between the broker's group.min.session.timeout.ms (default 6000) and "
                              f"group.max.session.timeout.ms (default 1800000)") from exc
        except (KafkaConnectionError, OSError) as exc:
            if attempt == attempts:
                raise DependencyUnavailable(f"{what}: broker unreachable after {attempts} attempts: {exc!r}") from exc
            log.warning("broker unreachable, retrying", extra={"client": what, "attempt": attempt, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
