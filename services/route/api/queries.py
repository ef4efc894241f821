"""Read queries of the case API: filtered lists with keyset pagination, one case in full.

Keyset pagination (a cursor holding the last row's sort key) rather than OFFSET: a page
costs the same at case 1,000,000 as at case 1, and rows inserted meanwhile neither repeat
nor vanish between pages.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.common.timeutil import format_rfc3339, parse_rfc3339

SLA_STATES = ("breached", "due", "met", "none")
SORTS = ("due", "-opened_at")

_SLA_SQL = """CASE
    WHEN c.first_response_due_at IS NULL THEN 'none'
    WHEN c.first_response_at IS NOT NULL AND c.first_response_at <= c.first_response_due_at THEN 'met'
    WHEN c.first_response_at IS NOT NULL OR c.first_response_due_at < $now THEN 'breached'
    ELSE 'due' END"""


@dataclasses.dataclass(frozen=True)
class CaseFilter:
    status: tuple[str, ...] = ()
    department: str | None = None
    priority: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    sla_state: str | None = None
    author: str | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    scope: str | None = None  # a department token sees only its department's cases
    sort: str = "due"
    limit: int = 50


class BadCursor(ValueError):
    pass


def encode_cursor(sort: str, row: dict[str, Any]) -> str:
    key = row["first_response_due_at"] if sort == "due" else row["opened_at"]
    raw = orjson.dumps({"s": sort, "k": format_rfc3339(key) if key else None, "id": str(row["id"])})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime | None, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort:
            raise BadCursor("the cursor belongs to another sort order")
        return (parse_rfc3339(data["k"]) if data["k"] else None), str(data["id"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadCursor("the cursor is not one this API issued") from exc


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if isinstance(value, datetime):
            value = format_rfc3339(value)
        elif key in ("id", "case_id") and value is not None:
            value = str(value)
        out[key] = value
    return out


CASE_FIELDS = """c.id, c.status, c.department, c.departments, c.priority, c.priority_score, c.channel, c.sla_policy,
    c.opened_at, c.last_mention_at, c.first_response_due_at, c.first_response_at, c.last_response_at, c.resolved_at,
    c.mention_count, c.reopened_count, c.tags, c.flags, c.repeat_cases, c.repeat_complaints, c.public, c.assignee,
    c.assigned_at, a.external_id AS author_id, a.handle AS author_handle, a.display_name AS author_name,
    COALESCE(a.followers, 0) AS author_followers, a.followers IS NOT NULL AS author_followers_known"""


async def list_cases(conn: asyncpg.Connection, f: CaseFilter, cursor: str | None, now: datetime
                     ) -> tuple[list[dict[str, Any]], str | None]:
    where: list[str] = []
    args: list[Any] = [now]
    sla = _SLA_SQL.replace("$now", "$1")

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.status:
        where.append(f"c.status = ANY({arg(list(f.status))}::text[])")
    if f.department:
        where.append(f"{arg(f.department)} = ANY(c.departments)")
    if f.scope:
        where.append(f"{arg(f.scope)} = ANY(c.departments)")
    if f.priority:
        where.append(f"c.priority = ANY({arg(list(f.priority))}::text[])")
    if f.channel:
        where.append(f"c.channel = ANY({arg(list(f.channel))}::text[])")
    if f.sla_state:
        where.append(f"({sla}) = {arg(f.sla_state)}")
    if f.author:
        a = arg(f.author.lower().lstrip("@"))
        where.append(f"(lower(a.external_id) = {a} OR lower(ltrim(a.handle, '@')) = {a})")
    if f.opened_after:
        where.append(f"c.opened_at >= {arg(f.opened_after)}")
    if f.opened_before:
        where.append(f"c.opened_at < {arg(f.opened_before)}")
    if cursor:
        key, last_id = decode_cursor(cursor, f.sort)
        if f.sort == "due":
            if key is None:  # already in the undated tail (NULLS LAST)
                where.append(f"c.first_response_due_at IS NULL AND c.id > {arg(last_id)}::uuid")
            else:
                k, i = arg(key), arg(last_id)
                where.append(f"(c.first_response_due_at > {k} OR c.first_response_due_at IS NULL "
                             f"OR (c.first_response_due_at = {k} AND c.id > {i}::uuid))")
        else:
            k, i = arg(key), arg(last_id)
            where.append(f"(c.opened_at < {k} OR (c.opened_at = {k} AND c.id < {i}::uuid))")
    order = "c.first_response_due_at ASC NULLS LAST, c.id ASC" if f.sort == "due" else "c.opened_at DESC, c.id DESC"
    sql = (f"SELECT {CASE_FIELDS}, ({sla}) AS sla_state FROM cases c JOIN authors a ON a.id = c.author_id "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order} LIMIT {int(f.limit) + 1}")
    rows = await conn.fetch(sql, *args)
    page = [_row(r) for r in rows[: f.limit]]
    next_cursor = encode_cursor(f.sort, dict(rows[f.limit - 1])) if len(rows) > f.limit else None
    return page, next_cursor


async def get_case(conn: asyncpg.Connection, case_id: str, scope: str | None, now: datetime) -> dict[str, Any] | None:
    sla = _SLA_SQL.replace("$now", "$2")
    row = await conn.fetchrow(
        f"""SELECT {CASE_FIELDS}, ({sla}) AS sla_state FROM cases c JOIN authors a ON a.id = c.author_id
             WHERE c.id = $1::uuid AND ($3::text IS NULL OR $3 = ANY(c.departments))""", case_id, now, scope)
    if row is None:
        return None
    case = _row(row)
    mentions = await conn.fetch(
        """SELECT id, channel, external_id, conversation_id, in_reply_to, text, language, url, created_at, received_at,
                  classification FROM mentions WHERE case_id = $1::uuid ORDER BY created_at""", case_id)
    case["mentions"] = [{**_row(m), "classification": orjson.loads(m["classification"])} for m in mentions]
    events = await conn.fetch("SELECT event_id::text AS id, type, occurred_at, recorded_at FROM case_events "
                              "WHERE case_id = $1::uuid ORDER BY seq", case_id)
    case["events"] = [_row(e) for e in events]
    responses = await conn.fetch("SELECT id, kind, channel, author_id, automated, public, text, created_at "
                                 "FROM responses WHERE case_id = $1::uuid ORDER BY created_at", case_id)
    case["responses"] = [_row(r) for r in responses]
    timers = await conn.fetch("SELECT * FROM sla_timers WHERE case_id = $1::uuid", case_id)
    case["timers"] = [_row(t) for t in timers]
    return case
