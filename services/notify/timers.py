"""Durable SLA timers: deadlines in PostgreSQL, fired by a `SKIP LOCKED` scanner.

Timers are rows, not in-memory callbacks, so they survive restarts, rebalances and a
replica dying. The scanner claims only due, armed rows (partial index on `due_at`), so
its cost follows the number of due timers, not of open ones. Firing a timer marks it
fired, records one notification per target and one `sla.alerts.v1` event in the
outbox, all in one transaction: a timer fires once in effect, however many replicas scan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.common.envelope import Event
from services.common.timeutil import format_rfc3339, parse_rfc3339
from services.common.topics import SLA_ALERTS, EventType

SOURCE = "heatdesk/notify"


@dataclasses.dataclass(frozen=True)
class FiredTimer:
    case_id: str
    kind: str
    department: str
    priority: str
    channel: str
    due_at: datetime
    started_at: datetime


async def arm_first_response(conn: asyncpg.Connection, case: Mapping[str, Any]) -> bool:
    """Arm the first-response timer of a newly opened case; False when it already existed."""
    if not case.get("first_response_due_at"):
        return False
    status = await conn.execute(
        """INSERT INTO sla_timers (case_id, kind, department, priority, channel, started_at, due_at)
           VALUES ($1, 'first_response', $2, $3, $4, $5, $6)
           ON CONFLICT (case_id, kind) DO NOTHING""",
        case["id"], case["department"], case["priority"], case["channel"],
        parse_rfc3339(case["opened_at"]), parse_rfc3339(case["first_response_due_at"]))
    return status.endswith(" 1")


def breach_event(timer: FiredTimer, fired_at: datetime) -> Event:
    overdue = (fired_at - timer.due_at).total_seconds()
    return Event(type=EventType.SLA_BREACHED, source=SOURCE, key=timer.case_id, subject=timer.case_id, data={
        "case_id": timer.case_id, "timer": timer.kind, "threshold": "breach", "department": timer.department,
        "priority": timer.priority, "channel": timer.channel, "started_at": format_rfc3339(timer.started_at),
        "due_at": format_rfc3339(timer.due_at), "fired_at": format_rfc3339(fired_at),
        "overdue_seconds": round(max(0.0, overdue), 3),
    })


async def fire_due(conn: asyncpg.Connection, now: datetime, limit: int, targets: Sequence[str]
                   ) -> tuple[list[FiredTimer], list[tuple[str, Event]]]:
    """Claim and fire up to `limit` due timers inside the caller's transaction.

    Returns the fired timers and the events for the outbox; the caller enqueues them in
    the same transaction, so a rollback un-fires everything.
    """
    rows = await conn.fetch(
        """SELECT case_id, kind, department, priority, channel, started_at, due_at FROM sla_timers
            WHERE state = 'armed' AND due_at <= $1
            ORDER BY due_at LIMIT $2
              FOR UPDATE SKIP LOCKED""", now, limit)
    if not rows:
        return [], []
    fired = [FiredTimer(str(r["case_id"]), r["kind"], r["department"], r["priority"], r["channel"],
                        r["due_at"], r["started_at"]) for r in rows]
    await conn.executemany(
        "UPDATE sla_timers SET state = 'fired', fired_at = $3 WHERE case_id = $1 AND kind = $2",
        [(t.case_id, t.kind, now) for t in fired])
    events = [(SLA_ALERTS, breach_event(t, now)) for t in fired]
    if targets:
        await conn.executemany(
            """INSERT INTO notifications (case_id, timer_kind, threshold, target, payload)
               VALUES ($1, $2, 'breach', $3, $4::jsonb)
               ON CONFLICT (case_id, timer_kind, threshold, target) DO NOTHING""",
            [(t.case_id, t.kind, target, orjson.dumps(e.data).decode())
             for t, (_, e) in zip(fired, events, strict=True) for target in targets])
    return fired, events


async def stop_timer(conn: asyncpg.Connection, case_id: str, kind: str, at: datetime) -> bool:
    status = await conn.execute(
        "UPDATE sla_timers SET state = 'stopped', stopped_at = $3 WHERE case_id = $1 AND kind = $2 AND state = 'armed'",
        case_id, kind, at)
    return status.endswith(" 1")
