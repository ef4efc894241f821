"""What route does when notify's SLA steps ask it to act (`sla.alerts.v1` with an `action`).

- `autoclose`: the case waited on the customer for the policy's time; if it still waits
  (status pending: a customer post would have reopened it), it is resolved by the system,
  as an automated resolution that never counts as a response.
- `reassign`: nobody answered within the rule's time; the case goes back to its
  department's queue (assignee cleared) one priority level higher, announced as escalated.
Both are idempotent on the alert's fixed CloudEvent id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.envelope import Event
from services.common.timeutil import parse_rfc3339
from services.common.topics import EventType
from services.route import events as ev
from services.route import store
from services.route.responses import ResponseApplier

_NAMESPACE = uuid.UUID("5b0a1c7e-8d2f-4e61-9a3b-7c4d5e6f8a90")
_RAISE = {p: q for p, q in zip(("low", "normal", "high"), ("normal", "high", "critical"), strict=True)}


async def apply_alerts(conn: asyncpg.Connection, alerts: Sequence[tuple[str, dict[str, Any]]],
                       out: list[tuple[str, Event]]) -> dict[str, int]:
    """Act on (alert ce_id, alert data) pairs inside the caller's transaction; counts by outcome."""
    counts = {"autoclosed": 0, "reassigned": 0, "skipped": 0}
    for alert_id, data in alerts:
        case_id, action = data.get("case_id"), data.get("action")
        if action not in ("autoclose", "reassign") or not case_id:
            continue
        cases = await store.load_cases(conn, [str(case_id)], [], parse_rfc3339(data["fired_at"]))
        if not cases:
            counts["skipped"] += 1
            continue
        case = cases[0]
        at = parse_rfc3339(data.get("step_due_at") or data["fired_at"])
        if action == "autoclose":
            if case.status != "pending":
                counts["skipped"] += 1  # the customer wrote again, or it is already resolved
                continue
            response = {"id": str(uuid.uuid5(_NAMESPACE, f"{alert_id}:autoclose")), "kind": "resolution",
                        "channel": case.channel, "external_id": f"autoclose-{alert_id}", "case_id": case.id,
                        "author": {"id": "heatdesk-sla"}, "automated": True, "public": False,
                        "text": f"closed after waiting on the customer ({data.get('policy', '')})",
                        "created_at": ev._ts(at), "received_at": ev._ts(at), "raw": None}
            applier = ResponseApplier(conn, {case.id: case}, {})
            result = await applier.apply_new([response], out)
            await store.write_cases(conn, [case])
            await applier.flush()
            counts["autoclosed" if result["applied"] else "skipped"] += 1
            continue
        event_id = str(uuid.uuid5(_NAMESPACE, f"{alert_id}:reassign"))
        if case.status == "resolved" or await conn.fetchval("SELECT 1 FROM case_events WHERE event_id = $1", event_id):
            counts["skipped"] += 1
            continue
        before = case.priority
        case.priority = _RAISE.get(case.priority, case.priority)
        case.assignee = None
        case.changed = True
        await store.write_cases(conn, [case])
        author = await conn.fetchrow(f"SELECT {store.AUTHOR_COLUMNS} FROM authors WHERE id = $1", case.author_id)
        topic, event = ev.lifecycle(EventType.CASE_ESCALATED, case, dict(author), at, escalation={
            "rule": str(data.get("threshold", "reassign")), "departments_added": [], "priority_from": before,
            "priority_to": case.priority})
        event = Event(type=event.type, source=event.source, data=event.data, key=event.key, subject=event.subject,
                      id=event_id, time=event.time)
        await store.insert_case_events(conn, [(case.id, at, event)])
        out.append((topic, event))
        counts["reassigned"] += 1
    return counts

