"""Apply brand responses to cases: first response, next responses, resolution, reopen.

A response names what it answers by case id, by the post it replies to (a customer's
mention, or a brand reply already on a case), or - only when it replies to nothing - by
the conversation or the customer; it is matched in that order. One whose parent is not
there yet stays in `responses` with no case (durable: a restart loses nothing) and is
applied when that parent is routed or applied, in the same transaction. Every response is
applied once: its id is the primary key, and a response applied in this batch is never
picked up again as "waiting".

Effects on the case, all by event time (the response's own `created_at`), so the result does
not depend on the order in which things arrive:
- reply by a person: `first_response_at` is the earliest, `last_response_at` the latest;
  a reply newer than the customer's last post puts the case to `pending` (waiting on the
  customer, SLA clocks paused). Automated replies are recorded, never counted.
- resolution: `resolved`; a resolution is also a response by a person.
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

#: The case of the post a reply answers (`t.channel`, `t.ref`): the routed mention with that id,
#: else a brand reply with that id already on a case. One rule for matching and for waiting.
_PARENT_JOINS = """LEFT JOIN mentions m ON m.channel = t.channel AND m.external_id = t.ref
                      LEFT JOIN LATERAL (SELECT case_id FROM responses p
                                          WHERE p.channel = t.channel AND p.external_id = t.ref
                                            AND p.case_id IS NOT NULL LIMIT 1) p ON true"""
_PARENT_CASE = "COALESCE(m.case_id, p.case_id)::text"


class ResponseApplier:
    def __init__(self, conn: asyncpg.Connection, cases: dict[str, CaseState], authors: dict[int, dict[str, Any]]) -> None:
        self.conn = conn
        self.cases = cases
        self.authors = authors
        self.event_rows: list[tuple[str, datetime, Event]] = []
        self.matched: list[tuple[str, str]] = []
        self._applied_refs: dict[tuple[str, str], str] = {}  # (channel, external id) → case, this batch

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
        return {"duplicate": len(responses) - len(fresh), **await self.apply(fresh, out)}

    async def apply_overdue(self, wait_s: float, limit: int, out: list[tuple[str, Event]]) -> dict[str, int]:
        """Replies that waited `wait_s` for a post that never came: matched once more, by their
        conversation or customer (the post may have been lost upstream, or never captured)."""
        rows = await self.conn.fetch(
            """UPDATE responses SET waited_until = now()
                WHERE id IN (SELECT id FROM responses
                              WHERE case_id IS NULL AND waited_until IS NULL
                                AND received_at < now() - make_interval(secs => $1::float8)
                              ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING id::text, kind, channel, external_id, in_reply_to, conversation_id, customer_id, author_id,
                      automated, public, created_at""", wait_s, limit)
        overdue = [{**dict(r), "author": {"id": r["author_id"]}} for r in rows]
        counts = await self.apply(overdue, out, guess=True)
        return {"applied_after_wait": counts["applied"], "unmatched_after_wait": counts["unmatched"]}

    async def apply(self, fresh: Sequence[dict[str, Any]], out: list[tuple[str, Event]],
                    guess: bool = False) -> dict[str, int]:
        """Match and apply responses already stored; `guess`: a reply whose post is unknown is
        matched by conversation or customer instead of waiting."""
        counts = {"applied": 0, "unmatched": 0}
        if not fresh:
            return counts
        targets = await self._match(fresh, guess)
        applied: list[tuple[str, str]] = []
        for response in sorted(fresh, key=lambda r: r["created_at"]):
            case_id = targets.get(response["id"])
            if case_id is not None and case_id in self.cases:
                self._apply(self.cases[case_id], response, out)
                applied.append((response["channel"], response["external_id"]))
        if applied:  # replies to these replies that came first (or in this batch)
            await self.apply_waiting(applied, out)
        done = {m[0] for m in self.matched}
        counts["applied"] = sum(r["id"] in done for r in fresh)
        counts["unmatched"] = len(fresh) - counts["applied"]
        return counts

    async def apply_waiting(self, posts: Sequence[tuple[str, str]], out: list[tuple[str, Event]]) -> int:
        """Apply stored, unmatched responses that reply to the given (channel, external id) posts
        (mentions just routed, or responses just applied), then the ones replying to those."""
        total = 0
        while posts:
            rows = await self.conn.fetch(
                f"""SELECT r.id::text, r.kind, r.channel, r.external_id, r.in_reply_to, r.automated, r.public,
                           r.author_id, r.created_at, {_PARENT_CASE} AS case_id
                      FROM responses r
                      JOIN unnest($1::text[], $2::text[]) AS t(channel, ref)
                        ON r.channel = t.channel AND r.in_reply_to = t.ref
                      {_PARENT_JOINS}
                     WHERE r.case_id IS NULL AND NOT r.id = ANY($3::uuid[])
                     ORDER BY r.created_at FOR UPDATE OF r""",
                [p[0] for p in posts], [p[1] for p in posts], [m[0] for m in self.matched])
            posts = []
            for row in rows:
                # A parent applied earlier in this batch is not written back yet: its case is in memory.
                case_id = row["case_id"] or self._applied_refs.get((row["channel"], row["in_reply_to"]))
                if case_id is None:
                    continue
                response = {**dict(row), "author": {"id": row["author_id"]}}
                await self._ensure_loaded([case_id])
                self._apply(self.cases[case_id], response, out)
                posts.append((row["channel"], row["external_id"]))
                total += 1
        return total

    async def _match(self, responses: Sequence[dict[str, Any]], guess: bool = False) -> dict[str, str]:
        """response id → case id. The reply chain decides when there is one: a response to a
        post nobody has routed yet waits for it rather than guessing by conversation or customer
        (a guess is how a reply lands on the customer's other case)."""
        targets: dict[str, str] = {r["id"]: r["case_id"] for r in responses if r.get("case_id")}
        chained = [r for r in responses if r["id"] not in targets and r.get("in_reply_to")]
        if chained:
            rows = await self.conn.fetch(
                f"""SELECT t.channel, t.ref, {_PARENT_CASE} AS case_id
                      FROM unnest($1::text[], $2::text[]) AS t(channel, ref)
                      {_PARENT_JOINS}""",
                [r["channel"] for r in chained], [r["in_reply_to"] for r in chained])
            parents = {(r["channel"], r["ref"]): r["case_id"] for r in rows if r["case_id"]}
            for r in chained:
                found = parents.get((r["channel"], r["in_reply_to"]))
                if found:
                    targets[r["id"]] = found
        loose = [r for r in responses if r["id"] not in targets and (guess or not r.get("in_reply_to"))]
        refs = [(r["channel"], r["conversation_id"]) for r in loose if r.get("conversation_id")]
        by_ref = await store.cases_by_reference(self.conn, refs)
        customers: list[tuple[str, str]] = []
        for r in loose:
            ref = r.get("conversation_id")
            if ref and (r["channel"], ref) in by_ref:
                targets[r["id"]] = by_ref[(r["channel"], ref)]
            elif r.get("customer_id"):
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
            for r in loose:
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
            rows = await self.conn.fetch(f"SELECT id, {store.AUTHOR_COLUMNS} FROM authors WHERE id = ANY($1::bigint[])",
                                         sorted(unknown))
            for row in rows:
                self.authors[row["id"]] = {k: v for k, v in row.items() if k != "id"}

    def _apply(self, case: CaseState, response: dict[str, Any], out: list[tuple[str, Event]]) -> None:
        at = response["created_at"] if isinstance(response["created_at"], datetime) else parse_rfc3339(
            response["created_at"])
        human = not response.get("automated")
        answers = human and response["kind"] in ("reply", "resolution")
        # The earliest reply by event time is the first response, whenever it arrives.
        first = answers and (case.first_response_at is None or at < case.first_response_at)
        case.changed = True
        if answers:
            case.first_response_at = at if first else case.first_response_at
            case.last_response_at = max(case.last_response_at or at, at)
        if response["kind"] == "reply":
            kind = EventType.CASE_RESPONDED
            # Only a reply newer than the customer's last post leaves the ball in their court.
            if human and case.status == "open" and at >= case.last_mention_at:
                case.status = "pending"
        elif response["kind"] == "resolution":
            kind = EventType.CASE_RESOLVED
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
        if response.get("external_id"):
            self._applied_refs[(response["channel"], response["external_id"])] = case.id

    async def flush(self) -> None:
        """Write the case events and mark the responses applied (cases are written by the batch)."""
        await store.insert_case_events(self.conn, self.event_rows)
        if self.matched:
            await self.conn.executemany("UPDATE responses SET case_id = $2, applied_at = now() WHERE id = $1",
                                        self.matched)
        self.event_rows, self.matched = [], []
