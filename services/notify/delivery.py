"""Delivering notifications: claim with a lease, send, record the outcome.

A replica claims due rows (`FOR UPDATE SKIP LOCKED`) and leases them by pushing
`next_attempt_at` ahead; if it dies mid-send the lease runs out and another replica
sends again (at-least-once, with an Idempotency-Key). A failed attempt is retried with
exponential backoff up to the configured attempts, then marked `failed` for an operator.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import asyncpg
import orjson

from services.common.metrics import Metrics

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, idempotency_key: str, alert: dict[str, Any]) -> None: ...


def backoff_s(attempt: int) -> float:
    """1 s, 2 s, 4 s … capped at 5 minutes."""
    return float(min(300, 2 ** max(0, attempt - 1)))


async def claim(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    return await conn.fetch(
        """UPDATE notifications n
              SET status = 'sending', attempts = n.attempts + 1,
                  next_attempt_at = now() + make_interval(secs => $2::float8)
            WHERE n.id IN (SELECT id FROM notifications
                            WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
                            ORDER BY next_attempt_at LIMIT $1
                              FOR UPDATE SKIP LOCKED)
        RETURNING n.id, n.case_id, n.timer_kind, n.threshold, n.target, n.payload, n.attempts""", limit, lease_s)


async def deliver_due(pool: asyncpg.Pool, senders: dict[str, Sender], metrics: Metrics, *,
                      limit: int = 50, lease_s: float = 30.0, max_attempts: int = 8) -> int:
    """Deliver what is due now; return how many rows were attempted."""
    async with pool.acquire() as conn:
        rows = await claim(conn, limit, lease_s)
    for row in rows:
        key = f"{row['case_id']}:{row['timer_kind']}:{row['threshold']}:{row['target']}"
        sender = senders.get(row["target"])
        try:
            if sender is None:
                raise LookupError(f"no sender configured for target {row['target']!r}")
            await sender.send(key, orjson.loads(row["payload"]))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
            final = row["attempts"] >= max_attempts
            async with pool.acquire() as conn:
                await conn.execute(
                    """UPDATE notifications SET status = $2, last_error = $3,
                              next_attempt_at = now() + make_interval(secs => $4::float8)
                        WHERE id = $1""",
                    row["id"], "failed" if final else "pending", repr(exc)[:500], backoff_s(row["attempts"]))
            metrics.notifications_sent.labels(row["target"], "failed" if final else "retry").inc()
            log.warning("notification delivery failed", extra={"target": row["target"], "attempt": row["attempts"],
                                                               "final": final, "error": repr(exc)})
            continue
        async with pool.acquire() as conn:
            await conn.execute("UPDATE notifications SET status = 'delivered', delivered_at = now(), last_error = NULL "
                               "WHERE id = $1", row["id"])
        metrics.notifications_sent.labels(row["target"], "delivered").inc()
    return len(rows)
