"""PostgreSQL: pool creation and the versioned migrations runner.

TLS is set in `DATABASE_URL` the way libpq does it (asyncpg reads the same parameters):
`?sslmode=verify-full&sslrootcert=/etc/heatdesk/pg/ca.crt` verifies the server's
certificate and host name; `sslcert`/`sslkey` add a client certificate, `sslpassword` its
key's password (redacted from logs like the password). Without `sslmode` asyncpg tries
TLS first and falls back to plaintext (`prefer`): use `verify-full` in production.

Migrations are plain SQL files `NNNN_name.sql` in `services/common/migrations/`, applied
in order, each in its own transaction, under an advisory lock so that two replicas
starting together cannot both apply one. A changed file that was already applied is
refused: history is never edited, a new migration is added instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import ssl
from dataclasses import dataclass
from importlib import resources
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from services.common.errors import ConfigError, DependencyUnavailable

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x6865_6174  # "heat"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

#: Connection errors worth retrying: the server is down, restarting or unreachable.
RETRIABLE_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError, asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError,
)


#: SQLSTATE classes that say "this record's data is wrong": data exception, integrity violation.
#: Everything else the server says (connection, resources, shutdown, missing table …) is about
#: the server or the deployment, and trying again later is right.
_DATA_ERROR_CLASSES = ("22", "23")


def is_retriable_db_error(exc: BaseException) -> bool:
    """True when a database error says "try again later" rather than "this record is bad".

    A server certificate that does not verify (wrong `sslrootcert`, wrong host name) is a
    configuration error, not an outage: retrying cannot fix it.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, RETRIABLE_DB_ERRORS):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", "") or ""
        return not sqlstate.startswith(_DATA_ERROR_CLASSES)
    return False


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("services.common").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"duplicate migration versions: {versions}")
    return found


async def connect(dsn: str, timeout: float = 10.0) -> asyncpg.Connection:
    """One connection (the CLI's jobs, migrations). Every failure is a one-line HeatdeskError:
    credentials or database name refused is a ConfigError, a server that does not answer
    (refused, timed out, reset) is DependencyUnavailable."""
    try:
        return await asyncpg.connect(dsn, timeout=timeout)
    except Exception as exc:
        _refuse_tls_misconfiguration(dsn, exc)
        sqlstate = getattr(exc, "sqlstate", "") or ""
        if sqlstate.startswith("28"):  # invalid authorization specification, invalid password
            raise ConfigError(f"PostgreSQL at {redact(dsn)} refused the credentials: {exc}") from exc
        if sqlstate == "3D000":
            raise ConfigError(f"PostgreSQL at {redact(dsn)}: {exc} (create it: heatdesk migrate --create-database)") from exc
        if not is_retriable_db_error(exc):
            raise
        raise DependencyUnavailable(f"PostgreSQL did not answer at {redact(dsn)}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """A connection failure in a few words (no repr, no traceback)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _refuse_tls_misconfiguration(dsn: str, exc: BaseException) -> None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        raise ConfigError(f"PostgreSQL's TLS certificate was refused at {redact(dsn)}: {exc.verify_message}; check "
                          f"sslrootcert (the CA) and the host name in DATABASE_URL") from exc


async def create_pool(dsn: str, min_size: int, max_size: int, attempts: int = 30) -> asyncpg.Pool:
    """A pool, retrying while the server starts; raises DependencyUnavailable after `attempts`."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=10)
            assert pool is not None
            return pool
        except Exception as exc:
            _refuse_tls_misconfiguration(dsn, exc)
            if not is_retriable_db_error(exc):
                raise
            if attempt == attempts:
                raise DependencyUnavailable(f"PostgreSQL did not answer at {redact(dsn)}: {exc!r}") from exc
            log.warning("database not reachable, retrying", extra={"attempt": attempt, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def redact(dsn: str) -> str:
    """The DSN without its password, for logs and error messages."""
    parts = urlsplit(dsn)
    netloc, query = parts.netloc, parts.query
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    if query:
        query = "&".join(f"{k}=***" if k.lower() in ("password", "sslpassword") else f"{k}={v}" if v else k
                         for k, _, v in (item.partition("=") for item in query.split("&")))
    if (netloc, query) == (parts.netloc, parts.query):
        return dsn  # urlunsplit would drop an empty authority ("postgresql:///db")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def split_database(dsn: str) -> tuple[str, str]:
    """(DSN of the server's `postgres` maintenance database, name of the target database)."""
    parts = urlsplit(dsn)
    name = unquote(parts.path.lstrip("/")) or "postgres"  # asyncpg decodes %-escapes too
    return urlunsplit(parts._replace(path="/postgres")), name


async def create_database_if_missing(dsn: str) -> bool:
    """Create the database named in `dsn` when it does not exist; True when created."""
    admin_dsn, name = split_database(dsn)
    conn = await connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        # Identifiers cannot be parameters; quote it the way PostgreSQL does.
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await conn.close()


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations; return the names applied."""
    migrations = load_migrations()
    conn = await connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())""")
        applied = {r["version"]: r for r in await conn.fetch("SELECT version, name, checksum FROM schema_migrations")}
        for m in migrations:
            done = applied.get(m.version)
            if done is not None:
                if done["checksum"] != m.checksum:
                    raise ConfigError(
                        f"migration {m.version:04d}_{m.name} changed after it was applied; add a new migration instead")
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   m.version, m.name, m.checksum)
            applied_now.append(f"{m.version:04d}_{m.name}")
            log.info("migration applied", extra={"version": m.version, "migration": m.name})
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        finally:
            await conn.close()
    return applied_now


async def pending_migrations(conn: asyncpg.Connection) -> list[int]:
    """Versions not yet applied (readiness refuses to serve an old schema)."""
    have = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = set()
    if have:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.version for m in load_migrations() if m.version not in done]
