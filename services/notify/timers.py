"""Durable SLA timers: deadlines in PostgreSQL, fired step by step by a `SKIP LOCKED` scanner.

Timers are rows, not in-memory callbacks, so they survive restarts, rebalances and a
replica dying. Each row is one clock with its steps (warnings, breach, escalations,
rules) and their due times; `due_at` is the next unfired step and the partial index on
armed rows means the scanner's cost follows due steps, not open timers. Firing claims rows
with `FOR UPDATE SKIP LOCKED`, records each step in `sla_steps` (primary key: case, clock,
cycle, step), and writes the `sla.alerts.v1` event to the outbox and one notification per
target - all in one transaction, so every step fires once in effect however many replicas
scan, crash or restart.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.common.envelope import Event
from services.common.slapolicy import PolicySet
from services.common.timeutil import format_rfc3339, parse_rfc3339
from services.common.topics import SLA_ALERTS, EventType
from services.notify.store import next_due

SOURCE = "heatdesk/notify"
#: Namespace of alert event ids: the same step always gets the same CloudEvent id.
ALERT_NAMESPACE = uuid.UUID("6b7f1d2e-3c4a-4e5f-9a8b-1c2d3e4f5a6b")


@dataclasses.dataclass(frozen=True)
class FiredStep:
    case_id: str
    kind: str
    cycle: int
    step: str
    level: str
    department: str
    priority: str
    channel: str
    policy: str
    started_at: datetime
    due_at: datetime  # when the clock breaches (the step's own time for auto-close)
    step_due_at: datetime
    notify: tuple[str, ...] = ()
    action: str | None = None

    @property
    def key(self) -> str:
        return f"{self.case_id}:{self.kind}:{self.cycle}:{self.step}"


@dataclasses.dataclass
class ScanResult:
    claimed: int = 0
    fired: list[FiredStep] = dataclasses.field(default_factory=list)
    events: list[tuple[str, Event]] = dataclasses.field(default_factory=list)


def alert_event(step: FiredStep, fired_at: datetime, targets: Sequence[str] = ()) -> Event:
    """The `sla.alerts.v1` event of a fired step (schema sla.alert.v1.json plus optional members)."""
    overdue = (fired_at - step.due_at).total_seconds() if step.level != "autoclose" else 0.0
    data: dict[str, Any] = {
        # auto-close is a request about the resolution of a case waiting on the customer
        "case_id": step.case_id, "timer": "resolution" if step.kind == "autoclose" else step.kind,
        "threshold": step.step, "department": step.department, "priority": step.priority, "channel": step.channel,
        "started_at": format_rfc3339(step.started_at), "due_at": format_rfc3339(step.due_at),
        "fired_at": format_rfc3339(fired_at), "overdue_seconds": round(max(0.0, overdue), 3),
        "clock": step.kind, "cycle": step.cycle, "level": step.level, "policy": step.policy,
        "step_due_at": format_rfc3339(step.step_due_at), "notify": list(step.notify), "targets": list(targets),
    }
    if step.action:
        data["action"] = step.action
    return Event(type=EventType.SLA_BREACHED, source=SOURCE, key=step.case_id, subject=step.case_id, data=data,
                 id=str(uuid.uuid5(ALERT_NAMESPACE, step.key)), time=fired_at)


def targets_of(step: FiredStep, policies: PolicySet, deliverable: Callable[[str], bool] = lambda t: True) -> list[str]:
    """The targets the step's roles name for its department, those this deployment can reach."""
    found = dict.fromkeys(t for role in step.notify for t in policies.targets_for(role, step.department))
    return [t for t in found if deliverable(t)]


async def fire_due(conn: asyncpg.Connection, now: datetime, limit: int, policies: PolicySet,
                   deliverable: Callable[[str], bool] = lambda t: True, stale_after_s: float = 0.0) -> ScanResult:
    """Claim clocks with due steps and fire those steps inside the caller's transaction.

    A step that fell due more than `stale_after_s` before `now` (a first deployment reading
    a month of case events, a long outage) is still recorded and published, marked `stale`,
    but pages nobody: people are paged for what they can still act on.
    Returns how many clocks were claimed, the steps fired now and their events; the caller
    enqueues the events in the same transaction, so a rollback un-fires everything.
    """
    rows = await conn.fetch(
        """SELECT case_id::text, kind, cycle, department, priority, channel, policy, started_at, breach_at, steps, fired
             FROM sla_timers
            WHERE state = 'armed' AND due_at <= $1
            ORDER BY due_at LIMIT $2
              FOR UPDATE SKIP LOCKED""", now, limit)
    if not rows:
        return ScanResult()
    candidates: list[FiredStep] = []
    updates = []
    for r in rows:
        timed = [(s, parse_rfc3339(s["at"]) if s.get("at") else None) for s in orjson.loads(r["steps"])]
        fired = set(r["fired"])
        for s, at in timed:
            if s["name"] in fired or at is None or at > now:
                continue
            fired.add(s["name"])
            due = r["breach_at"] or at
            candidates.append(FiredStep(r["case_id"], r["kind"], r["cycle"], s["name"], s["level"], r["department"],
                                        r["priority"], r["channel"], r["policy"] or "", r["started_at"],
                                        at if s["level"] == "autoclose" else due, at, tuple(s.get("notify") or ()),
                                        s.get("action")))
        following = next_due(((s["name"], at) for s, at in timed), fired)
        updates.append((r["case_id"], r["kind"], r["cycle"], sorted(fired), following,
                        "armed" if following is not None else "fired"))
    inserted = await conn.fetch(
        """INSERT INTO sla_steps (case_id, kind, cycle, step, level, due_at, fired_at, event_id)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[],
                                $7::timestamptz[], $8::text[])
           ON CONFLICT DO NOTHING
           RETURNING case_id::text, kind, cycle, step""",
        [c.case_id for c in candidates], [c.kind for c in candidates], [c.cycle for c in candidates],
        [c.step for c in candidates], [c.level for c in candidates], [c.step_due_at for c in candidates],
        [now] * len(candidates), [str(uuid.uuid5(ALERT_NAMESPACE, c.key)) for c in candidates])
    new = {(r["case_id"], r["kind"], r["cycle"], r["step"]) for r in inserted}
    fired_now = [c for c in candidates if (c.case_id, c.kind, c.cycle, c.step) in new]
    await conn.executemany(
        "UPDATE sla_timers SET fired = $4, due_at = $5, state = $6, fired_at = coalesce(fired_at, now()), "
        "updated_at = now() WHERE case_id = $1 AND kind = $2 AND cycle = $3", updates)
    events: list[tuple[str, Event]] = []
    notifications = []
    for step in fired_now:
        stale = stale_after_s > 0 and (now - step.step_due_at).total_seconds() > stale_after_s
        targets = [] if stale else targets_of(step, policies, deliverable)
        event = alert_event(step, now, targets)
        if stale:
            event.data["stale"] = True
        events.append((SLA_ALERTS, event))
        payload = orjson.dumps(event.data).decode()
        notifications += [(step.case_id, step.kind, step.cycle, step.step, t, payload, f"{step.key}:{t}") for t in targets]
    if notifications:
        await conn.executemany(
            """INSERT INTO notifications (case_id, timer_kind, cycle, threshold, target, payload, dedupe_key)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT (dedupe_key) DO NOTHING""", notifications)
    return ScanResult(len(rows), fired_now, events)
