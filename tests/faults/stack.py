"""The fault-test stack: broker, database, proxies, receivers and the services as processes.

Unlike the end-to-end fixture, every service here is a process the test may SIGKILL,
restart, or run twice (replicas), and the broker and PostgreSQL can sit behind
`TcpProxy`s so that the test can take them away without stopping either: the broker
advertises the proxy's address in its metadata, so every client connection (bootstrap
and partition leaders alike) goes through the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from services.common.db import migrate, split_database
from services.common.embedded import free_port
from tests.brokers import create_lane_topics, make_broker
from tests.conftest import FAST_KAFKA_ENV
from tests.faults.proxy import TcpProxy
from tests.support import parse_metrics

SERVICES = ("ingest", "classify", "route", "notify")
CONSUMERS = ("classify", "route", "notify")

#: Settings of every fault test: fast group joins, fast scans, 2-second SLAs, short retry waits.
BASE_ENV = {
    **FAST_KAFKA_ENV,
    "HEATDESK_HTTP_HOST": "127.0.0.1",
    "HEATDESK_LOG_LEVEL": "INFO",
    "HEATDESK_SLA_FIRST_RESPONSE_TARGETS": "critical=2,high=2,normal=2,low=2",
    "HEATDESK_NOTIFY_SCAN_INTERVAL_S": "0.2",
    "HEATDESK_NOTIFY_RATE_LIMIT": "0",
    "HEATDESK_NOTIFY_WEBHOOK_TIMEOUT_S": "3",
    "HEATDESK_NOTIFY_LEASE_S": "10",  # longer than a webhook call may take: a slow call is never sent twice
    "HEATDESK_INGEST_RETRY_AFTER_S": "1",
    "HEATDESK_INGEST_PUBLISH_TIMEOUT_S": "3",
    "HEATDESK_KAFKA_REQUEST_TIMEOUT_MS": "5000",
    "HEATDESK_SHUTDOWN_GRACE_SECONDS": "10",
}


def with_host(dsn: str, host: str, port: int) -> str:
    parts = urlsplit(dsn)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{auth}@{host}:{port}" if auth else f"{host}:{port}"))


@dataclasses.dataclass
class Proc:
    """One service process: start it, kill -9 it, stop it gracefully, ask it things over HTTP."""

    service: str
    replica: int
    port: int
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.service}-{self.replica}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Proc:
        out = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.popen = subprocess.Popen([sys.executable, "-m", "services.cli", self.service], env=self.env,
                                      stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.started_at = time.monotonic()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """kill -9: no graceful step of any kind."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit code (a graceful stop must exit 0)."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.terminate()
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                self.popen.kill()
                self.popen.wait()
                return -9
            await asyncio.sleep(0.05)
        return self.popen.returncode

    async def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(self.url(path)) as resp:
                return resp.status, await resp.text()

    async def ready(self) -> bool:
        try:
            status, _ = await self.get("/readyz")
        except (aiohttp.ClientError, TimeoutError):
            return False
        return status == 200

    async def wait_ready(self, timeout: float = 90.0) -> float:
        """Wait until /readyz answers 200; seconds since the process started."""
        deadline = time.monotonic() + timeout
        while not await self.ready():
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready within {timeout}s\n{self.tail()}")
            await asyncio.sleep(0.1)
        return time.monotonic() - self.started_at

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        _, text = await self.get("/metrics")
        return parse_metrics(text)

    async def consumed(self) -> float:
        """Records this process has consumed (0 when its /metrics does not answer)."""
        try:
            metrics = await self.metrics()
        except (aiohttp.ClientError, TimeoutError):
            return 0.0
        return sum(v for (name, _), v in metrics.items() if name == "heatdesk_records_consumed_total")

    async def wait_consuming(self, since: float, timeout: float = 90.0) -> float:
        """Wait until this (new) process consumed a record; seconds since `since` (a monotonic time)."""
        deadline = time.monotonic() + timeout
        while await self.consumed() == 0:
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} consumed nothing within {timeout}s\n{self.tail()}")
            await asyncio.sleep(0.1)
        return time.monotonic() - since

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


class FaultStack:
    """Broker and database (each optionally behind a proxy), receivers, and service processes."""

    def __init__(self, pg_server: str, log_dir: Path, *, kafka_proxy: bool = False, pg_proxy: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.admin_dsn, _ = split_database(pg_server)
        self.db_name = f"heatdesk_fault_{uuid.uuid4().hex[:12]}"
        self.database = urlunsplit(urlsplit(pg_server)._replace(path=f"/{self.db_name}"))
        broker_port = free_port()
        self.kafka_proxy = TcpProxy("127.0.0.1", broker_port) if kafka_proxy else None
        advertised = self.kafka_proxy.port if self.kafka_proxy else None
        self.broker = make_broker(broker_port, log_dir / "broker.log", advertised_port=advertised)
        pg = urlsplit(pg_server)
        self.pg_proxy = TcpProxy(pg.hostname or "127.0.0.1", pg.port or 5432) if pg_proxy else None
        self.bootstrap = self.kafka_proxy.address if self.kafka_proxy else self.broker.bootstrap
        self.service_dsn = with_host(self.database, "127.0.0.1", self.pg_proxy.port) if self.pg_proxy else self.database
        self.env = {**os.environ, **BASE_ENV, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                    "DATABASE_URL": self.service_dsn, **(env or {})}
        self.procs: dict[str, list[Proc]] = {s: [] for s in SERVICES}
        self._next_replica: dict[str, int] = dict.fromkeys(SERVICES, 0)

    async def setup(self) -> None:
        self.broker.start()
        for proxy in (self.kafka_proxy, self.pg_proxy):
            if proxy is not None:
                proxy.start()
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await conn.close()
        await migrate(self.database)
        await keep_published_outbox(self.database)
        await create_lane_topics(self.broker.bootstrap)

    def spawn(self, service: str, port: int | None = None, member: str | None = None, **env: str) -> Proc:
        """Start one more process of `service` (a replica, or a restart after a kill).

        `member` is its static group member id (used when static membership is on, as in the
        Kafka lane): each replica has its own, as each pod of a Deployment has its own name,
        and a restart keeps the one of the process it replaces, as a restarted pod does.
        """
        replica = self._next_replica[service]
        self._next_replica[service] += 1
        port = port or free_port()
        member = member or f"replica-{replica}"
        proc = Proc(service, replica, port, {**self.env, f"HEATDESK_{service.upper()}_PORT": str(port),
                                             "HEATDESK_KAFKA_GROUP_INSTANCE_ID": member, **env},
                    self.log_dir / f"{service}-{replica}.log")
        self.procs[service].append(proc.start())
        return proc

    def live(self, service: str) -> list[Proc]:
        return [p for p in self.procs[service] if p.alive]

    def one(self, service: str) -> Proc:
        (proc,) = self.live(service)
        return proc

    async def start(self, services: Iterable[str] = SERVICES, replicas: int = 1, wait: bool = True) -> None:
        procs = [self.spawn(s) for s in services for _ in range(replicas)]
        if wait:
            await asyncio.gather(*(p.wait_ready() for p in procs))

    def restart(self, proc: Proc) -> Proc:
        """A new process of the same service on the same port (the old one must be gone)."""
        assert not proc.alive
        return self.spawn(proc.service, port=proc.port, member=proc.env["HEATDESK_KAFKA_GROUP_INSTANCE_ID"])

    async def db(self) -> asyncpg.Connection:
        """A direct connection (never through the proxy) for the test's own checks."""
        return await asyncpg.connect(self.database)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(2500)}" for ps in self.procs.values() for p in ps)

    async def teardown(self) -> dict[str, Any]:
        """Stop every live process gracefully; exit codes by process name."""
        codes = {}
        for service in reversed(SERVICES):
            for proc in self.procs[service]:
                if proc.alive:
                    codes[proc.name] = await proc.terminate()
        for proxy in (self.kafka_proxy, self.pg_proxy):
            if proxy is not None:
                proxy.close()
        self.broker.close()
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(self.admin_dsn)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await conn.close()
        return codes


#: The services delete outbox rows once published; the fault audit needs every row ever
#: committed (the topics must hold exactly those), so the test database keeps a copy.
OUTBOX_AUDIT_SQL = """
CREATE TABLE outbox_published (LIKE outbox);
CREATE FUNCTION outbox_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO outbox_published SELECT OLD.*; RETURN OLD; END $$;
CREATE TRIGGER outbox_keep BEFORE DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_keep();
"""


async def keep_published_outbox(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(OUTBOX_AUDIT_SQL)
    finally:
        await conn.close()
