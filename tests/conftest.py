"""Fixtures: a real broker and a real PostgreSQL database per test (fixture factories).

Each integration test gets its own broker (Tansu starts in milliseconds, and memory
storage means no test sees another's records; in the Kafka lane, `HEATDESK_TEST_BROKER=kafka`,
an Apache Kafka of its own in about two seconds, see tests/brokers.py) and its own database,
created from the migrations and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from services.common.db import migrate, split_database
from services.common.embedded import EmbeddedBroker, EmbeddedPostgres, free_port, server_answers
from services.common.embedded_kafka import ApacheKafkaBroker
from tests.brokers import create_lane_topics, lane_client_env, make_broker

#: Timeouts small enough for fast group joins on Tansu (join takes ~half the session timeout);
#: in the Kafka lane also the production client settings (idempotence, static membership).
FAST_KAFKA_ENV = {
    "HEATDESK_KAFKA_SESSION_TIMEOUT_MS": "2000",
    "HEATDESK_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
    **lane_client_env(),
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker | ApacheKafkaBroker]:
    b = make_broker(free_port(), tmp_path / "broker.log")
    b.start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a PostgreSQL server: DATABASE_URL's (or 127.0.0.1:5432), else an embedded one."""
    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if asyncio.run(server_answers(dsn)):
        yield dsn
        return
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata"))
    try:
        yield pg.start("postgres")
    finally:
        pg.stop()


def _with_database(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def throwaway_database(pg_server: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on `pg_server` (named `<prefix>_<random>`); its DSN. Dropped after."""
    admin_dsn, _ = split_database(pg_server)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _with_database(pg_server, name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def database(pg_server: str) -> AsyncIterator[str]:
    """A fresh, migrated database; its DSN. Dropped after the test."""
    async with throwaway_database(pg_server, "heatdesk_test") as dsn:
        await migrate(dsn)
        yield dsn


@pytest.fixture
async def db(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def service_env(broker: EmbeddedBroker | ApacheKafkaBroker, topics: list[str], database: str) -> dict[str, str]:
    """Environment for a service under test: this test's broker and database, fast timeouts."""
    return {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": database,
            "HEATDESK_HTTP_HOST": "127.0.0.1", **FAST_KAFKA_ENV}


@pytest.fixture
async def topics(broker: EmbeddedBroker | ApacheKafkaBroker) -> list[str]:
    """Create every Heatdesk topic on this test's broker (on Kafka, as the Strimzi KafkaTopics declare them)."""
    return await create_lane_topics(broker.bootstrap)
