"""The end-to-end stack: broker, database and the four services as separate processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest

from services.common.db import migrate, split_database
from services.common.embedded import free_port
from tests.brokers import create_lane_topics, make_broker
from tests.conftest import FAST_KAFKA_ENV, _with_database

SERVICES = ("ingest", "classify", "route", "notify")


@dataclass
class WebhookReceiver:
    """A real HTTP receiver in a thread: records every call's JSON body."""

    port: int = field(default_factory=free_port)
    calls: list[dict] = field(default_factory=list)

    def start(self) -> None:
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                calls.append({"body": json.loads(self.rfile.read(length)),
                              "idempotency_key": self.headers.get("Idempotency-Key")})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@dataclass
class Stack:
    bootstrap: str
    database: str
    ports: dict[str, int]
    receiver: WebhookReceiver
    processes: dict[str, subprocess.Popen[bytes]]
    log_dir: Path

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{(self.log_dir / f'{name}.log').read_text()[-4000:]}" for name in SERVICES)


def _wait_ready(stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for name in SERVICES:
        while True:
            proc = stack.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{stack.logs()}")
            try:
                with urllib.request.urlopen(stack.url(name, "/readyz"), timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready within {timeout}s\n{stack.logs()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("e2e")
    broker = make_broker(free_port(), log_dir / "broker.log")
    broker.start()
    admin_dsn, _ = split_database(pg_server)
    name = f"heatdesk_e2e_{uuid.uuid4().hex[:12]}"
    database = _with_database(pg_server, name)

    async def setup() -> None:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        await migrate(database)
        await create_lane_topics(broker.bootstrap)

    asyncio.run(setup())
    receiver = WebhookReceiver()
    receiver.start()
    ports = {s: free_port() for s in SERVICES}
    env = {**os.environ, **FAST_KAFKA_ENV, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": database,
           "HEATDESK_HTTP_HOST": "127.0.0.1", "HEATDESK_NOTIFY_WEBHOOK_URL": receiver.url,
           "HEATDESK_NOTIFY_SCAN_INTERVAL_S": "0.2",
           # The two-second policy of the test: every priority must be answered within 2 s.
           "HEATDESK_SLA_FIRST_RESPONSE_TARGETS": "critical=2,high=2,normal=2,low=2",
           **{f"HEATDESK_{s.upper()}_PORT": str(p) for s, p in ports.items()}}
    processes = {}
    for service in SERVICES:
        out = open(log_dir / f"{service}.log", "wb")
        processes[service] = subprocess.Popen([sys.executable, "-m", "services.cli", service], env=env,
                                              stdout=out, stderr=subprocess.STDOUT)
    s = Stack(broker.bootstrap, database, ports, receiver, processes, log_dir)
    try:
        _wait_ready(s)
        yield s
    finally:
        for proc in processes.values():
            proc.terminate()
        exit_codes = {}
        for service, proc in processes.items():
            try:
                exit_codes[service] = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                exit_codes[service] = "killed"
        receiver.stop()
        broker.close()

        async def teardown() -> None:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()

        asyncio.run(teardown())
        # Graceful shutdown is part of the contract: SIGTERM → exit 0.
        assert exit_codes == {s: 0 for s in SERVICES}, f"{exit_codes}\n{s.logs()}"
