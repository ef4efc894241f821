"""Apply brand responses to cases: first response, next responses, resolution, reopen.

A response names what it answers by case id, by the customer post it replies to, by the
conversation, or by the customer; it is matched in that order. One that matches nothing
yet is kept (the customer's post may still be on its way through classify) and applied
when that post is routed. Every response is applied once: its id is the primary key.

Effects on the case:
- reply by a person: the first one sets `first_response_at`; every one sets
  `last_response_at`; the case now waits on the customer (`pending`), which pauses SLA
  clocks until the customer writes again. Automated replies are recorded, never counted.
- resolution: `resolved`; a resolution is also a first response if none came before.
- reopen: back to `open`, with a new clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common.envelope import Event
from services.common.timeutil import parse_rfc3339
from services.common.topics import EventType
from services.route import events as ev
from services.route import store
from services.route.state import CaseState

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class ResponseApplier:
    def __init__(self, conn: asyncpg.Connection, cases: dict[str, CaseState], authors: dict[int, dict[str, Any]]) -> None:
        self.conn = conn
        self.cases = cases
        self.authors = authors
        self.event_rows: list[tuple[str, datetime, Event]] = []
        self.matched: list[tuple[str, str]] = []

    async def apply_new(self, responses: Sequence[dict[str, Any]], out: list[tuple[str, Event]]) -> dict[str, int]:
        """Store new responses (duplicates skipped), match and apply them; counts by outcome."""
        rows = await self.conn.fetch(
            """INSERT INTO responses (id, kind, channel, external_id, in_reply_to, conversation_id, customer_id,
                                      author_id, automated, public, text, created_at, received_at, raw)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::text[], $9::bool[], $10::bool[], $11::text[],
                                    $12::timestamptz[], $13::timestamptz[], $14::jsonb[])
               ON CONFLICT (id) DO NOTHING RETURNING id::text""",
            [r["id"] for r in responses], [r["kind"] for r in responses], [r["channel"] for r in responses],
            [r["external_id"] for r in responses], [r.get("in_reply_to") for r in responses],
            [r.get("conversation_id") for r in responses], [r.get("customer_id") for r in responses],
            [str(r["author"]["id"]) for r in responses], [bool(r.get("automated")) for r in responses],
            [bool(r.get("public", True)) for r in responses], [r.get("text") for r in responses],
            [parse_rfc3339(r["created_at"]) for r in responses], [parse_rfc3339(r["received_at"]) for r in responses],
            [store._json(r.get("raw")) for r in responses])
        fresh_ids = {r["id"] for r in rows}
        fresh = list({r["id"]: r for r in responses if r["id"] in fresh_ids}.values())  # a copy in one batch too
        counts = {"duplicate": len(responses) - len(fresh), "applied": 0, "unmatched": 0}
        targets = await self._match(fresh)
        for response in sorted(fresh, key=lambda r: r["created_at"]):
            case_id = targets.get(response["id"])
            if case_id is None or case_id not in self.cases:
                counts["unmatched"] += 1
                continue
            self._apply(self.cases[case_id], response, out)
            counts["applied"] += 1
        return counts

    async def apply_waiting(self, posts: Sequence[tuple[str, str]], out: list[tuple[str, Event]]) -> int:
        """Apply stored, unmatched responses that reply to the given (channel, external id) posts."""
        rows = await self.conn.fetch(
            """SELECT r.id::text, r.kind, r.channel, r.external_id, r.in_reply_to, r.automated, r.public,
                      r.author_id, r.created_at, m.case_id::text AS case_id
                 FROM responses r
                 JOIN unnest($1::text[], $2::text[]) AS t(channel, ref) ON r.channel = t.channel AND r.in_reply_to = t.ref
                 JOIN mentions m ON m.channel = r.channel AND m.external_id = r.in_reply_to
                WHERE r.case_id IS NULL ORDER BY r.created_at FOR UPDATE OF r""",
            [p[0] for p in posts], [p[1] for p in posts])
        for row in rows:
            response = {"id": row["id"], "kind": row["kind"], "automated": row["automated"], "public": row["public"],
                        "author": {"id": row["author_id"]}, "created_at": row["created_at"]}
            await self._ensure_loaded([row["case_id"]])
            self._apply(self.cases[row["case_id"]], response, out)
        return len(rows)

    async def _match(self, responses: Sequence[dict[str, Any]]) -> dict[str, str]:
        targets: dict[str, str] = {r["id"]: r["case_id"] for r in responses if r.get("case_id")}
        refs = [(r["channel"], ref) for r in responses if r["id"] not in targets
                for ref in (r.get("in_reply_to"), r.get("conversation_id")) if ref]
        by_ref = await store.cases_by_reference(self.conn, refs)
        customers: list[tuple[str, str]] = []
        for r in responses:
            if r["id"] in targets:
                continue
            for ref in (r.get("in_reply_to"), r.get("conversation_id")):
                if ref and (r["channel"], ref) in by_ref:
                    targets[r["id"]] = by_ref[(r["channel"], ref)]
                    break
            else:
                if r.get("customer_id"):
                    customers.append((r["channel"], str(r["customer_id"])))
        if customers:
            rows = await self.conn.fetch(
                """SELECT t.channel, t.customer, c.id::text AS case_id
                     FROM unnest($1::text[], $2::text[]) AS t(channel, customer)
                     JOIN authors a ON a.channel = t.channel AND a.external_id = t.customer
                     JOIN LATERAL (SELECT id FROM cases WHERE person_id = a.person_id
                                   ORDER BY (status <> 'resolved') DESC, last_mention_at DESC LIMIT 1) c ON true""",
                [c[0] for c in customers], [c[1] for c in customers])
            by_customer = {(r["channel"], r["customer"]): r["case_id"] for r in rows}
            for r in responses:
                if r["id"] not in targets and r.get("customer_id"):
                    found = by_customer.get((r["channel"], str(r["customer_id"])))
                    if found:
                        targets[r["id"]] = found
        await self._ensure_loaded(sorted(set(targets.values())))
        return targets

    async def _ensure_loaded(self, case_ids: Sequence[str]) -> None:
        missing = [c for c in case_ids if c not in self.cases]
        if missing:
            for case in await store.load_cases(self.conn, missing, [], _FAR_FUTURE):
                self.cases[case.id] = case
        unknown = {c.author_id for c in self.cases.values()} - set(self.authors)
        if unknown:
            rows = await self.conn.fetch("SELECT id, external_id, handle, display_name, followers, verified "
                                         "FROM authors WHERE id = ANY($1::bigint[])", sorted(unknown))
            for row in rows:
                self.authors[row["id"]] = {"id": row["external_id"], "handle": row["handle"],
                                           "name": row["display_name"], "followers": row["followers"],
                                           "verified": row["verified"]}

    def _apply(self, case: CaseState, response: dict[str, Any], out: list[tuple[str, Event]]) -> None:
        at = response["created_at"] if isinstance(response["created_at"], datetime) else parse_rfc3339(
            response["created_at"])
        human = not response.get("automated")
        first = human and case.first_response_at is None and response["kind"] in ("reply", "resolution")
        case.changed = True
        if response["kind"] == "reply":
            kind = EventType.CASE_RESPONDED
            if human:
                case.first_response_at = case.first_response_at or at
                case.last_response_at = max(case.last_response_at or at, at)
                if case.status == "open":
                    case.status = "pending"
        elif response["kind"] == "resolution":
            kind = EventType.CASE_RESOLVED
            if human:
                case.first_response_at = case.first_response_at or at
                case.last_response_at = max(case.last_response_at or at, at)
            case.status, case.resolved_at = "resolved", at
        else:
            kind = EventType.CASE_REOPENED
            case.status, case.resolved_at = "open", None
            case.reopened_count += 1
        details = {"id": response["id"], "kind": response["kind"], "automated": not human,
                   "public": bool(response.get("public", True)), "created_at": ev._ts(at),
                   "author_id": str(response["author"]["id"]), "first": first}
        topic, event = ev.lifecycle(kind, case, self.authors.get(case.author_id, {"id": "?"}), at, response=details)
        out.append((topic, event))
        self.event_rows.append((case.id, at, event))
        self.matched.append((response["id"], case.id))

    async def flush(self) -> None:
        """Write the case events and mark the responses applied (cases are written by the batch)."""
        await store.insert_case_events(self.conn, self.event_rows)
        if self.matched:
            await self.conn.executemany("UPDATE responses SET case_id = $2, applied_at = now() WHERE id = $1",
                                        self.matched)
        self.event_rows, self.matched = [], []
