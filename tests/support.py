"""Test helpers shared by integration and end-to-end tests (fixtures live in conftest)."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from services.common.embedded import free_port
from services.common.envelope import Event, decode, header_map
from services.common.log import JsonFormatter
from services.common.schemas import SCHEMA_FILES, all_schemas, schema_uri


async def read_topic(bootstrap: str, topic: str, *, until: Callable[[list[ConsumerRecord]], bool],
                     timeout: float = 20.0, settle: float = 0.5) -> list[ConsumerRecord]:
    """Every record of `topic` from the beginning, read until `until(records)` holds (then `settle` more).

    Tansu's end offsets are unreliable after multi-record batches, so this reads until a
    condition instead of "to the end"; the settle period catches anything written before.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + 5
        while not partitions and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - test helper
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        satisfied_at: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for recs in batch.values():
                records.extend(recs)
            if satisfied_at is None and until(records):
                satisfied_at = time.monotonic()
            if satisfied_at is not None and time.monotonic() - satisfied_at >= settle:
                return records
        raise AssertionError(f"timed out reading {topic}: {len(records)} records, condition not met")
    finally:
        await consumer.stop()


def events(records: Iterable[ConsumerRecord]) -> list[Event]:
    return [decode(r.headers, r.value, r.key) for r in records]


def count_at_least(n: int) -> Callable[[list[ConsumerRecord]], bool]:
    return lambda records: len(records) >= n


def with_subject(subject: str) -> Callable[[list[ConsumerRecord]], bool]:
    return lambda records: any(header_map(r.headers).get("ce_subject") == subject.encode() for r in records)


async def produce(bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in items:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def produce_events(bootstrap: str, topic: str, evs: Iterable[Event]) -> None:
    await produce(bootstrap, topic, [(e.key_bytes(), e.body(), e.headers()) for e in evs])


_registry = Registry().with_resources(
    [(uri, Resource.from_contents(doc)) for uri, doc in all_schemas().items()])


def validate_event(event: Event) -> None:
    """Raise jsonschema.ValidationError unless `event.data` matches its published schema."""
    assert event.type in SCHEMA_FILES, f"no published schema for {event.type}"
    schema = {"$ref": schema_uri(event.type)}
    Draft202012Validator(schema, registry=_registry, format_checker=FormatChecker()).validate(event.data)


def validate_payload(definition: str, data: Any) -> None:
    """Validate against one `$defs` entry of the shared definitions (Mention, Response, …)."""
    schema = {"$ref": f"https://heatdesk.dev/schemas/defs.v1.json#/$defs/{definition}"}
    Draft202012Validator(schema, registry=_registry, format_checker=FormatChecker()).validate(data)


def mention_body(external_id: str, text: str, *, channel: str = "x", author_id: str = "cust-1",
                 followers: int = 150, created_at: str | None = None, **extra: Any) -> dict[str, Any]:
    from services.common.timeutil import format_rfc3339, utcnow

    body = {"channel": channel, "external_id": external_id, "text": text,
            "author": {"id": author_id, "handle": f"@{author_id}", "name": "Jo Customer",
                       "followers": followers, "verified": False},
            "created_at": created_at or format_rfc3339(utcnow())}
    body.update(extra)
    return body


Metrics = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Metrics:
    """Prometheus text exposition → {(name, labels): value} via the official parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def scrape_metrics(url: str, holds: Callable[[Metrics], Any] = lambda m: True) -> Metrics | None:
    """GET a service's /metrics over HTTP and parse it; None when `holds` is false of it (for `wait_for`)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        metrics = parse_metrics(await resp.text())
    return metrics if holds(metrics) else None


def metric_sum(metrics: Metrics, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


def json_body(record: ConsumerRecord) -> Any:
    return orjson.loads(record.value)


class Running:
    """Run a Service in the test's event loop: `async with Running(svc): ...` stops it after."""

    def __init__(self, service: Any, ready_timeout: float = 30.0) -> None:
        self.service = service
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.ready_timeout = ready_timeout

    async def __aenter__(self) -> Any:
        started = asyncio.Event()
        original_start = self.service.start

        async def start_and_signal() -> None:
            await original_start()
            started.set()

        self.service.start = start_and_signal
        self.task = asyncio.create_task(self.service.serve(self.stop))
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait([waiter, self.task], timeout=self.ready_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            waiter.cancel()
            self.task.result()  # raises the start failure
        if waiter not in done:
            raise AssertionError("service did not start in time")
        loop = getattr(self.service, "loop", None)
        if loop is not None:  # wait for the consumer group assignment
            deadline = time.monotonic() + self.ready_timeout
            while not loop.consumer.assignment() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return self.service

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll an async or sync predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


class LocalServer:
    """An aiohttp server on a free loopback port for one test (`async with`), answering
    `method` requests to `path` with `handle`; subclasses record what they need (a webhook receiver, a token
    endpoint)."""

    path = "/"
    method = "POST"

    def __init__(self) -> None:
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route(self.method, self.path, self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def json_log_capture(name: str, log_filter: logging.Filter) -> tuple[logging.Logger, io.StringIO]:
    """A logger that writes through `log_filter` and the services' JSON formatter into a string.

    The production handler with its filter, without stdout: what a log line would carry.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    handler.addFilter(log_filter)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, stream
