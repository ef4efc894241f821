"""Delivering notifications: claim with a lease, respect the target's rate, send, record.

A replica claims due rows (`FOR UPDATE SKIP LOCKED`) and leases them by pushing
`next_attempt_at` ahead; if it dies mid-send the lease runs out and another replica sends
again (at-least-once, with the dedupe key as Idempotency-Key so receivers drop the copy).
Per-target rate limits are counted in PostgreSQL, so they hold across replicas: a row over
the limit waits for the next window without spending an attempt. A failed attempt is
retried with exponential backoff and jitter (replicas retrying a dead receiver do not
stampede it when it returns), honouring Retry-After; a permanent refusal or the last
attempt marks the row `failed` - the dead letter an operator reviews
(`heatdesk_notifications_undeliverable`, `heatdesk sla notifications --failed`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
import orjson

from services.common.metrics import Metrics
from services.notify.senders import target_kind
from services.notify.senders.webhook import DeliveryFailed

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, idempotency_key: str, alert: dict[str, Any]) -> None: ...


class SenderLookup(Protocol):
    def get(self, target: str) -> Sender | None: ...


def backoff_s(attempt: int) -> float:
    """1 s, 2 s, 4 s … capped at 5 minutes."""
    return float(min(300, 2 ** max(0, attempt - 1)))


def retry_delay_s(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """`backoff_s` with equal jitter: between half and all of it."""
    base = backoff_s(attempt)
    return base / 2 + rand() * base / 2


@dataclasses.dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0


async def claim(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    return await conn.fetch(
        """UPDATE notifications n
              SET status = 'sending', attempts = n.attempts + 1,
                  next_attempt_at = now() + make_interval(secs => $2::float8)
            WHERE n.id IN (SELECT id FROM notifications
                            WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
                            ORDER BY next_attempt_at LIMIT $1
                              FOR UPDATE SKIP LOCKED)
        RETURNING n.id, n.case_id, n.timer_kind, n.threshold, n.target, n.payload, n.attempts, n.dedupe_key""",
        limit, lease_s)


async def take_rate(conn: asyncpg.Connection, target: str, limit: int, window_s: float) -> float | None:
    """Count one send against the target's current window; None if allowed, else seconds to wait."""
    if limit <= 0:
        return None
    row = await conn.fetchrow(
        """INSERT INTO notify_rate (target, window_start, sent)
           VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), 1)
           ON CONFLICT (target, window_start) DO UPDATE SET sent = notify_rate.sent + 1
           RETURNING sent, extract(epoch FROM window_start + make_interval(secs => $2) - now())::float8 AS left_s""",
        target, window_s)
    return None if row["sent"] <= limit else max(0.05, row["left_s"])


class Deliverer:
    def __init__(self, pool: asyncpg.Pool, senders: SenderLookup, metrics: Metrics, *, lease_s: float = 30.0,
                 max_attempts: int = 8, rate_limit: int = 0, rate_window_s: float = 60.0, batch: int = 50,
                 concurrency: int = 8, rand: Callable[[], float] = random.random) -> None:
        self.pool, self.senders, self.metrics = pool, senders, metrics
        self.lease_s, self.max_attempts, self.batch = lease_s, max_attempts, batch
        self.rate_limit, self.rate_window_s = rate_limit, rate_window_s
        self.rand = rand
        self.gate = asyncio.Semaphore(concurrency)

    async def deliver_due(self) -> DeliveryReport:
        """Deliver what is due now, several rows at once."""
        async with self.pool.acquire() as conn:
            rows = await claim(conn, self.batch, self.lease_s)
        report = DeliveryReport(attempted=len(rows))
        await asyncio.gather(*(self._one(row, report) for row in rows))
        return report

    async def _one(self, row: asyncpg.Record, report: DeliveryReport) -> None:
        async with self.gate:
            kind = target_kind(row["target"])
            async with self.pool.acquire() as conn:
                wait = await take_rate(conn, row["target"], self.rate_limit, self.rate_window_s)
                if wait is not None:
                    await conn.execute(
                        "UPDATE notifications SET status = 'pending', attempts = attempts - 1, "
                        "next_attempt_at = now() + make_interval(secs => $2::float8) WHERE id = $1", row["id"], wait)
                    report.deferred += 1
                    self.metrics.notifications_sent.labels(kind, "rate_limited").inc()
                    return
            try:
                sender = self.senders.get(row["target"])
                if sender is None:
                    raise DeliveryFailed(f"no sender configured for target {row['target']!r}")
                await sender.send(row["dedupe_key"], orjson.loads(row["payload"]))
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried or dead-lettered
                await self._failed(row, exc, kind, report)
                return
            async with self.pool.acquire() as conn:
                await conn.execute("UPDATE notifications SET status = 'delivered', delivered_at = now(), "
                                   "last_error = NULL WHERE id = $1", row["id"])
            report.delivered += 1
            self.metrics.notifications_sent.labels(kind, "delivered").inc()

    async def _failed(self, row: asyncpg.Record, exc: BaseException, kind: str, report: DeliveryReport) -> None:
        permanent = isinstance(exc, DeliveryFailed) and exc.permanent
        final = permanent or row["attempts"] >= self.max_attempts
        delay = retry_delay_s(row["attempts"], self.rand)
        if isinstance(exc, DeliveryFailed) and exc.retry_after_s:
            delay = max(delay, exc.retry_after_s)
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE notifications SET status = $2, last_error = $3,
                          next_attempt_at = now() + make_interval(secs => $4::float8) WHERE id = $1""",
                row["id"], "failed" if final else "pending", repr(exc)[:500], delay)
        if final:
            report.failed += 1
            log.error("notification undeliverable; marked failed", extra={
                "target_kind": kind, "attempts": row["attempts"], "permanent": permanent, "error": repr(exc),
                "dedupe_key": row["dedupe_key"]})
        else:
            report.retried += 1
            log.warning("notification delivery failed; will retry", extra={
                "target_kind": kind, "attempt": row["attempts"], "retry_in_s": round(delay, 2), "error": repr(exc)})
        self.metrics.notifications_sent.labels(kind, "failed" if final else "retry").inc()


async def deliver_due(pool: asyncpg.Pool, senders: SenderLookup, metrics: Metrics, *, limit: int = 50,
                      lease_s: float = 30.0, max_attempts: int = 8) -> int:
    """One delivery round without rate limits (kept for callers of the first version)."""
    report = await Deliverer(pool, senders, metrics, lease_s=lease_s, max_attempts=max_attempts,
                             batch=limit).deliver_due()
    return report.attempted
