"""The case store: threading a classified mention into a case, in one transaction.

route is the single writer of `cases`, `case_events`, `mentions` and `authors`. Every
function here runs inside the caller's transaction and is idempotent on the mention id:
a redelivered mention finds its row and changes nothing. A transaction-scoped advisory
lock on the conversation key serialises the rare overlap of two replicas during a
rebalance, so one customer never gets two cases for one conversation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from services.common.channels import conversation_key
from services.common.envelope import Event
from services.common.ids import uuid7
from services.common.sla import DEFAULT_POLICY, PRIORITIES, first_response_due
from services.common.timeutil import format_rfc3339, parse_rfc3339
from services.common.topics import CASE_EVENTS, EventType, department_topic

SOURCE = "heatdesk/route"
_RANK = {p: i for i, p in enumerate(reversed(PRIORITIES))}  # low=0 … critical=3


@dataclasses.dataclass(frozen=True)
class RouteResult:
    outcome: str  # "opened", "added" or "duplicate"
    case_id: str
    department: str
    priority: str
    events: list[tuple[str, Event]]


def _jsonb(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _upsert_author(conn: asyncpg.Connection, channel: str, author: Mapping[str, Any]) -> int:
    return await conn.fetchval(
        """INSERT INTO authors (channel, external_id, handle, display_name, followers, verified)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (channel, external_id) DO UPDATE
              SET handle = COALESCE(EXCLUDED.handle, authors.handle),
                  display_name = COALESCE(EXCLUDED.display_name, authors.display_name),
                  followers = EXCLUDED.followers, verified = EXCLUDED.verified, updated_at = now()
           RETURNING id""",
        channel, str(author["id"]), author.get("handle"), author.get("name"),
        int(author.get("followers") or 0), bool(author.get("verified")))


async def _find_open_case(conn: asyncpg.Connection, mention: Mapping[str, Any], key: str,
                          created_at: datetime, window: timedelta) -> asyncpg.Record | None:
    """The reply chain or conversation first, then the same customer within the window."""
    refs = [r for r in (mention.get("in_reply_to"), mention.get("conversation_id")) if r]
    if refs:
        row = await conn.fetchrow(
            """SELECT c.* FROM mentions m JOIN cases c ON c.id = m.case_id
                WHERE m.channel = $1 AND (m.external_id = ANY($2::text[]) OR m.conversation_id = ANY($2::text[]))
                  AND c.status <> 'resolved'
                ORDER BY c.last_mention_at DESC LIMIT 1
                  FOR UPDATE OF c""", mention["channel"], refs)
        if row is not None:
            return row
    return await conn.fetchrow(
        """SELECT * FROM cases
            WHERE conversation_key = $1 AND status <> 'resolved' AND last_mention_at >= $2
            ORDER BY last_mention_at DESC LIMIT 1
              FOR UPDATE""", key, created_at - window)


def case_snapshot(row: Mapping[str, Any], author: Mapping[str, Any]) -> dict[str, Any]:
    def ts(v: datetime | None) -> str | None:
        return format_rfc3339(v) if v is not None else None

    return {
        "id": str(row["id"]), "status": row["status"], "department": row["department"],
        "priority": row["priority"], "priority_score": row["priority_score"], "channel": row["channel"],
        "sla_policy": row["sla_policy"], "opened_at": ts(row["opened_at"]),
        "last_mention_at": ts(row["last_mention_at"]), "first_response_due_at": ts(row["first_response_due_at"]),
        "first_response_at": ts(row["first_response_at"]), "mention_count": row["mention_count"],
        "author": {"id": str(author["id"]), "handle": author.get("handle"), "name": author.get("name"),
                   "followers": int(author.get("followers") or 0), "verified": bool(author.get("verified"))},
    }


async def route_mention(conn: asyncpg.Connection, mention: Mapping[str, Any], classification: Mapping[str, Any],
                        *, targets: Mapping[str, float], window: timedelta) -> RouteResult:
    """Thread one classified mention into a case; return what happened and the events to publish."""
    channel = mention["channel"]
    author = mention["author"]
    key = conversation_key(channel, str(author["id"]))
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)

    existing = await conn.fetchrow("SELECT m.case_id, c.department, c.priority FROM mentions m "
                                   "JOIN cases c ON c.id = m.case_id WHERE m.id = $1", mention["id"])
    if existing is not None:
        return RouteResult("duplicate", str(existing["case_id"]), existing["department"], existing["priority"], [])

    created_at = parse_rfc3339(mention["created_at"])
    received_at = parse_rfc3339(mention["received_at"])
    author_id = await _upsert_author(conn, channel, author)
    priority = classification["priority"]["bucket"]
    score = int(classification["priority"]["score"])
    found = await _find_open_case(conn, mention, key, created_at, window)

    if found is None:
        outcome, case_id = "opened", uuid7()
        row = await conn.fetchrow(
            """INSERT INTO cases (id, department, priority, priority_score, channel, author_id, conversation_key,
                                  sla_policy, opened_at, last_mention_at, first_response_due_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING *""",
            case_id, classification["department"], priority, score, channel, author_id, key, DEFAULT_POLICY,
            created_at, first_response_due(created_at, priority, targets))
    else:
        outcome, case_id = "added", str(found["id"])
        upgrade = _RANK[priority] > _RANK[found["priority"]]
        row = await conn.fetchrow(
            """UPDATE cases SET mention_count = mention_count + 1,
                                last_mention_at = GREATEST(last_mention_at, $2),
                                priority = CASE WHEN $3 THEN $4 ELSE priority END,
                                priority_score = GREATEST(priority_score, $5),
                                updated_at = now()
                WHERE id = $1 RETURNING *""", found["id"], created_at, upgrade, priority, score)

    await conn.execute(
        """INSERT INTO mentions (id, case_id, channel, external_id, conversation_id, in_reply_to, author_id, text,
                                 language, url, created_at, received_at, classification, raw)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb)""",
        mention["id"], case_id, channel, mention["external_id"], mention.get("conversation_id"),
        mention.get("in_reply_to"), author_id, mention["text"], mention.get("language"), mention.get("url"),
        created_at, received_at, _jsonb(classification), _jsonb(mention.get("raw")))

    snapshot = case_snapshot(row, author)
    change_type = EventType.CASE_OPENED if outcome == "opened" else EventType.CASE_MENTION_ADDED
    lifecycle = Event(type=change_type, source=SOURCE, key=case_id, subject=case_id, data={
        "case": snapshot, "mention_id": mention["id"], "occurred_at": mention["created_at"]})
    await conn.execute(
        "INSERT INTO case_events (event_id, case_id, type, occurred_at, data) VALUES ($1, $2, $3, $4, $5::jsonb)",
        lifecycle.id, case_id, change_type, created_at, _jsonb(lifecycle.data))
    routed = Event(type=EventType.CASE_ROUTED, source=SOURCE, key=case_id, subject=case_id, data={
        "change": outcome, "case": snapshot, "mention": {**mention, "raw": None}, "classification": classification})
    events = [(department_topic(row["department"]), routed), (CASE_EVENTS, lifecycle)]
    return RouteResult(outcome, case_id, row["department"], row["priority"], events)


async def open_cases_by_department(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT department, count(*) AS n FROM cases WHERE status <> 'resolved' GROUP BY 1")
    return {r["department"]: r["n"] for r in rows}
