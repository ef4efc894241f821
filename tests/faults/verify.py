"""After the faults: was anything lost, was anything doubled? One audit for every fault test.

The audit waits (with upper bounds) until the pipeline has drained, then checks the three
promises of DESIGN.md from the outside - the database, the topics and the receivers:

- every mention answered 202 is in exactly one case (`mentions` has it, once; the cases'
  `mention_count`s add up to the mentions, so no redelivery counted twice);
- every event route and notify committed (their outbox) is on its topic, and a topic holds
  nothing else; copies of one event (a republish after a crash) carry the same `ce_id` and
  the same body, so a subscriber that deduplicates on `ce_id` sees it once; every mention
  has exactly one lifecycle event (`opened` or `mention_added`);
- every case owes a first response nobody gave: each has its breach notification,
  delivered, and the webhook received each notification once per `Idempotency-Key`. A
  second call with the same key is the documented at-least-once edge (the receiver drops
  it by its key): it is only allowed for a notification whose delivery could not be
  recorded - in flight when notify was killed, or sent while the database was away
  (`allowed_redeliveries`); any other second call counts as a duplicate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any

import asyncpg
import orjson

from services.common.envelope import header_map
from services.common.topics import CASE_EVENTS
from tests.faults.load import Poster, WebhookSink
from tests.support import read_topic, wait_for

LIFECYCLE_WITH_MENTION = {"com.heatdesk.case.opened.v1", "com.heatdesk.case.mention_added.v1"}


@dataclasses.dataclass
class Audit:
    sent: int = 0
    accepted: int = 0
    lost: list[str] = dataclasses.field(default_factory=list)
    mentions_in_db: int = 0
    cases: int = 0
    mention_count_sum: int = 0
    events_expected: int = 0
    events_distinct_on_topics: int = 0
    events_raw_on_topics: int = 0
    events_missing: list[str] = dataclasses.field(default_factory=list)
    events_unexpected: list[str] = dataclasses.field(default_factory=list)
    events_diverging_copies: list[str] = dataclasses.field(default_factory=list)
    mentions_without_one_lifecycle_event: list[str] = dataclasses.field(default_factory=list)
    notifications: int = 0
    notifications_undelivered: list[str] = dataclasses.field(default_factory=list)
    cases_without_breach_notification: int = 0
    webhook_calls: int = 0
    webhook_keys_missing: list[str] = dataclasses.field(default_factory=list)
    webhook_keys_unknown: list[str] = dataclasses.field(default_factory=list)
    webhook_duplicates: dict[str, int] = dataclasses.field(default_factory=dict)
    webhook_duplicates_unexplained: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def duplicated(self) -> int:
        """Doubled effects: a mention counted twice, two different events for one mention, an
        event whose copies differ, a notification delivered twice without a crash to explain it."""
        return (max(0, self.mention_count_sum - self.mentions_in_db) + len(self.mentions_without_one_lifecycle_event)
                + len(self.events_diverging_copies) + len(self.webhook_duplicates_unexplained))

    def check(self) -> None:
        assert self.accepted == self.sent, f"{self.sent - self.accepted} mentions never accepted"
        assert not self.lost, f"lost {len(self.lost)} accepted mentions, e.g. {self.lost[:5]}"
        assert self.mention_count_sum == self.mentions_in_db, (self.mention_count_sum, self.mentions_in_db)
        # At least the department record of every mention was committed: the outbox audit cannot be empty.
        assert self.events_expected >= self.mentions_in_db, (self.events_expected, self.mentions_in_db)
        assert not self.events_missing, f"{len(self.events_missing)} committed events never published"
        assert not self.events_unexpected, f"events on topics that no transaction committed: {self.events_unexpected[:5]}"
        assert not self.events_diverging_copies, self.events_diverging_copies[:5]
        assert not self.mentions_without_one_lifecycle_event, self.mentions_without_one_lifecycle_event[:5]
        assert not self.notifications_undelivered, self.notifications_undelivered[:5]
        assert self.cases_without_breach_notification == 0, self.cases_without_breach_notification
        assert not self.webhook_keys_missing, self.webhook_keys_missing[:5]
        assert not self.webhook_keys_unknown, self.webhook_keys_unknown[:5]
        assert not self.webhook_duplicates_unexplained, self.webhook_duplicates_unexplained
        assert self.duplicated == 0

    def summary(self) -> dict[str, Any]:
        return {"sent": self.sent, "accepted": self.accepted, "lost": len(self.lost), "duplicated": self.duplicated,
                "cases": self.cases, "events": self.events_expected,
                "events_republished_same_ce_id": self.events_raw_on_topics - self.events_distinct_on_topics,
                "notifications": self.notifications, "webhook_calls": self.webhook_calls,
                "webhook_redeliveries_same_key": sum(n - 1 for n in self.webhook_duplicates.values())}


async def drained(db: asyncpg.Connection, accepted_ids: list[str], timeout: float) -> None:
    """Every accepted mention routed, every outbox row published, every notification settled."""
    async def routed() -> bool:
        return await db.fetchval("SELECT count(*) FROM mentions WHERE id = ANY($1::uuid[])", accepted_ids) \
            == len(accepted_ids)

    async def settled() -> bool:
        cases = await db.fetchval("SELECT count(*) FROM cases")
        breached = await db.fetchval(
            "SELECT count(DISTINCT case_id) FROM notifications WHERE timer_kind = 'first_response' "
            "AND threshold = 'breach' AND status = 'delivered'")
        unsettled = await db.fetchval("SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')")
        unpublished = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return cases == breached and unsettled == 0 and unpublished == 0

    await wait_for(routed, timeout=timeout, interval=0.5)
    await wait_for(settled, timeout=timeout, interval=0.5)


async def audit(db: asyncpg.Connection, bootstrap: str, poster: Poster, sink: WebhookSink | None, *,
                allowed_redeliveries: Collection[str] = (), timeout: float = 120.0) -> Audit:
    accepted = poster.accepted_ids()
    result = Audit(sent=len(poster.outcomes), accepted=len(accepted))
    await drained(db, list(accepted.values()), timeout)
    in_db = {r["id"] for r in await db.fetch("SELECT id::text FROM mentions WHERE id = ANY($1::uuid[])",
                                             list(accepted.values()))}
    result.lost = sorted(ext for ext, mid in accepted.items() if mid not in in_db)
    result.mentions_in_db = await db.fetchval("SELECT count(*) FROM mentions")
    result.cases = await db.fetchval("SELECT count(*) FROM cases")
    result.mention_count_sum = await db.fetchval("SELECT coalesce(sum(mention_count), 0) FROM cases")

    # Events: the outbox is what was committed (published rows are deleted by the services and
    # kept by the test database's trigger, stack.keep_published_outbox); the topics must hold exactly that.
    rows = await db.fetch("""SELECT topic, headers->>'ce_id' AS ce_id, payload FROM outbox
                             UNION ALL SELECT topic, headers->>'ce_id', payload FROM outbox_published""")
    expected: dict[str, dict[str, bytes]] = defaultdict(dict)
    for r in rows:
        expected[r["topic"]][r["ce_id"]] = bytes(r["payload"])
    result.events_expected = len(rows)
    lifecycle_by_mention: dict[str, set[str]] = defaultdict(set)
    for topic, wanted in expected.items():
        def has_all(records: list[Any], wanted: dict[str, bytes] = wanted) -> bool:
            return len({header_map(r.headers).get("ce_id", b"").decode() for r in records} & wanted.keys()) == len(wanted)

        records = await read_topic(bootstrap, topic, until=has_all, timeout=timeout, settle=1.0)
        copies: dict[str, list[bytes]] = defaultdict(list)
        for record in records:
            headers = header_map(record.headers)
            ce_id = headers["ce_id"].decode()
            copies[ce_id].append(record.value)
            if topic == CASE_EVENTS and headers["ce_type"].decode() in LIFECYCLE_WITH_MENTION:
                mention_id = orjson.loads(record.value).get("mention_id")
                if mention_id:
                    lifecycle_by_mention[mention_id].add(ce_id)
        result.events_raw_on_topics += len(records)
        result.events_distinct_on_topics += len(copies)
        result.events_missing += sorted(set(wanted) - set(copies))
        result.events_unexpected += sorted(set(copies) - set(wanted))
        result.events_diverging_copies += sorted(i for i, bodies in copies.items()
                                                 if len(set(bodies)) > 1 or (i in wanted and bodies[0] != wanted[i]))
    result.mentions_without_one_lifecycle_event = sorted(m for m in in_db if len(lifecycle_by_mention.get(m, ())) != 1)

    # Notifications: one row per (case, clock, cycle, step, target); each delivered, each received once.
    notes = await db.fetch("SELECT dedupe_key, status, target FROM notifications")
    result.notifications = len(notes)
    result.notifications_undelivered = sorted(r["dedupe_key"] for r in notes if r["status"] != "delivered")
    result.cases_without_breach_notification = await db.fetchval(
        """SELECT count(*) FROM cases c WHERE NOT EXISTS (
               SELECT 1 FROM notifications n WHERE n.case_id = c.id AND n.timer_kind = 'first_response'
                  AND n.threshold = 'breach' AND n.status = 'delivered')""")
    if sink is not None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(sink.keys()) < len(notes):
            await asyncio.sleep(0.05)  # the sink's thread records a call right after answering it
        keys = sink.keys()
        webhook_keys = {r["dedupe_key"] for r in notes if r["target"] == "webhook"}
        result.webhook_calls = sum(keys.values())
        result.webhook_keys_missing = sorted(webhook_keys - set(keys))
        result.webhook_keys_unknown = sorted(set(keys) - webhook_keys)
        result.webhook_duplicates = {k: n for k, n in keys.items() if n > 1}
        result.webhook_duplicates_unexplained = {k: n for k, n in result.webhook_duplicates.items()
                                                 if k not in allowed_redeliveries or n > 2}
    return result


async def in_flight_notifications(db: asyncpg.Connection) -> set[str]:
    """Notifications a sender has claimed and not yet recorded (read right after killing it)."""
    return {r["dedupe_key"] for r in await db.fetch("SELECT dedupe_key FROM notifications WHERE status = 'sending'")}


def fmt_counter(counter: Counter[Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items()))
