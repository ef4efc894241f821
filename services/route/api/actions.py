"""Actions on a case through the API: respond, resolve, reopen, assign.

Route stays the single writer: an action runs in route's process, in one transaction
with the case row locked, through the same code that applies responses from
`responses.v1`, and announces itself through the outbox like every other change. An
`Idempotency-Key` header makes a retried request a no-op.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.common.envelope import Event
from services.common.timeutil import format_rfc3339
from services.common.topics import EventType
from services.route import events as ev
from services.route import store
from services.route.responses import ResponseApplier
from services.route.state import CaseState

_API_NAMESPACE = uuid.UUID("9a4f8e2c-3d51-4b7a-8c0e-5f1d2a6b7c90")


def action_id(case_id: str, kind: str, idempotency_key: str | None) -> str:
    """A deterministic id when the caller gives an Idempotency-Key, a fresh one otherwise."""
    if idempotency_key:
        return str(uuid.uuid5(_API_NAMESPACE, f"{case_id}\x1f{kind}\x1f{idempotency_key}"))
    return str(uuid.uuid4())


async def respond(conn: asyncpg.Connection, case: CaseState, kind: str, body: dict[str, Any], at: datetime,
                  response_id: str) -> tuple[list[tuple[str, Event]], bool]:
    """Apply a reply, resolution or reopen to a locked case; (events, applied now?)."""
    response = {
        "id": response_id, "kind": kind, "channel": case.channel, "external_id": f"api-{response_id}",
        "case_id": case.id, "in_reply_to": None, "conversation_id": None, "customer_id": None,
        "author": {"id": str(body["author"]["id"]), "name": body["author"].get("name")},
        "automated": bool(body.get("automated", False)), "public": bool(body.get("public", True)),
        "text": body.get("text"), "created_at": format_rfc3339(at), "received_at": format_rfc3339(at),
        "source": "api", "raw": None,
    }
    applier = ResponseApplier(conn, {case.id: case}, {})
    out: list[tuple[str, Event]] = []
    counts = await applier.apply_new([response], out)
    await store.write_cases(conn, [case])
    await applier.flush()
    return out, counts["applied"] == 1


async def assign(conn: asyncpg.Connection, case: CaseState, assignee: str, at: datetime,
                 author: dict[str, Any]) -> list[tuple[str, Event]]:
    await conn.execute("UPDATE cases SET assignee = $2, assigned_at = $3, updated_at = now() WHERE id = $1",
                       case.id, assignee, at)
    case.assignee = assignee
    topic, event = ev.lifecycle(EventType.CASE_ASSIGNED, case, author, at, assignee=assignee)
    await store.insert_case_events(conn, [(case.id, at, event)])
    return [(topic, event)]
