"""Pieces shared by the services that own database state (route, notify)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from services.common.db import RETRIABLE_DB_ERRORS, pending_migrations


def database_check(pool_getter: Callable[[], asyncpg.Pool | None]) -> Callable[[], Awaitable[tuple[bool, str]]]:
    """Readiness: the database answers within a second and its schema is migrated."""

    async def check() -> tuple[bool, str]:
        pool = pool_getter()
        if pool is None:
            return False, "no pool"
        try:
            async with asyncio.timeout(1.0):
                async with pool.acquire() as conn:
                    pending = await pending_migrations(conn)
        except (*RETRIABLE_DB_ERRORS, asyncpg.PostgresError) as exc:
            return False, f"database unreachable: {exc!r}"
        if pending:
            return False, f"migrations pending: {pending}; run `heatdesk migrate`"
        return True, "database reachable, schema current"

    return check
