"""A crash between route's database commit and its publish loses nothing and doubles nothing in effect.

Route commits the case changes and the events announcing them in one transaction (the
outbox), then publishes. Two crash points are injected in a first route process:
- after the commit, before anything is published: the next process publishes the
  events from the outbox, once each;
- after the broker acknowledged the events, before they were marked published: the next
  process publishes them again with the same CloudEvents id (`ce_id`), so a subscriber
  that deduplicates on it - as the contract asks - sees each event once. Exactly-once
  delivery would need Kafka transactions, a setting for production brokers.
In both cases the redelivered input (offsets were not committed) creates no second case.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.envelope import header_map
from services.common.topics import CASE_EVENTS, MENTIONS_CLASSIFIED, department_topic
from services.route.app import RouteService
from services.route.settings import RouteSettings
from services.route.state import CaseState
from services.route.store import insert_mentions, write_cases
from tests.integration.test_route import classified_event
from tests.support import Running, produce_events, read_topic, wait_for

pytestmark = pytest.mark.integration


def _service(service_env: dict[str, str]) -> RouteService:
    return RouteService(loader.load(RouteSettings, {**service_env, "HEATDESK_ROUTE_PORT": str(free_port())}))


async def crash_inside(svc: RouteService, stop_point: asyncio.Event, crashed: asyncio.Event) -> None:
    """Run `svc` until it reaches `stop_point`, then kill it without any graceful step."""
    task = asyncio.create_task(svc.serve(asyncio.Event()))
    waiter = asyncio.create_task(stop_point.wait())
    await asyncio.wait([task, waiter], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert stop_point.is_set(), "the crash point was never reached"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    crashed.set()


async def run_crash_scenario(service_env, broker, db, after_publish: bool) -> Counter:
    mentions = [classified_event(f"crash-{i}", "charged twice, refund me now", author_id=f"crash-{i}")
                for i in range(5)]
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, mentions)
    first = _service(service_env)
    reached, crashed = asyncio.Event(), asyncio.Event()
    original_start = first.start

    async def start_with_fault() -> None:
        await original_start()  # the startup flush runs unpatched
        assert first.relay is not None and first.publisher is not None
        if after_publish:
            publish_many, publish_rows = first.publisher.publish_many, first.publisher.publish_rows

            async def publish_many_then_die(items):  # noqa: ANN001
                await publish_many(items)
                reached.set()
                await asyncio.Event().wait()  # killed here: acknowledged, never marked published

            async def publish_rows_then_die(rows):  # noqa: ANN001
                await publish_rows(rows)
                reached.set()
                await asyncio.Event().wait()

            first.publisher.publish_many = publish_many_then_die  # type: ignore[method-assign]
            first.publisher.publish_rows = publish_rows_then_die  # type: ignore[method-assign]
        else:
            sweep = first.relay.flush

            async def die_before_publish(*args, **kwargs) -> int:  # noqa: ANN002, ANN003
                if args and isinstance(args[0], float) and args[0] > 0:  # the periodic sweep: not the crash point
                    return await sweep(args[0])
                reached.set()
                await asyncio.Event().wait()  # killed here: committed, nothing published
                return 0

            first.relay.flush = die_before_publish  # type: ignore[method-assign]
            first.relay.publish_written = die_before_publish  # type: ignore[method-assign]

    first.start = start_with_fault  # type: ignore[method-assign]
    await crash_inside(first, reached, crashed)
    assert await db.fetchval("SELECT count(*) FROM cases") == 5  # the transaction did commit
    # A new process (same consumer group) takes over.
    async with Running(_service(service_env)):
        async def all_published() -> bool:
            return await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

        await wait_for(all_published, timeout=30)
        records = await read_topic(broker.bootstrap, CASE_EVENTS, until=lambda rs: len(rs) >= 5, settle=2.0)
        routed = await read_topic(broker.bootstrap, department_topic("billing"), until=lambda rs: len(rs) >= 5,
                                  settle=0.5)
    assert await db.fetchval("SELECT count(*) FROM cases") == 5  # redelivered input: no second case
    assert await db.fetchval("SELECT count(*) FROM case_events") == 5
    ids = Counter(header_map(r.headers)["ce_id"] for r in records + routed)
    assert len(ids) == 10  # every event of the outbox reached the topics
    return ids


async def test_crash_after_commit_before_publish(service_env, broker, db):
    ids = await run_crash_scenario(service_env, broker, db, after_publish=False)
    assert set(ids.values()) == {1}  # each event published exactly once


async def test_crash_after_publish_before_marking(service_env, broker, db):
    ids = await run_crash_scenario(service_env, broker, db, after_publish=True)
    assert set(ids.values()) <= {1, 2}  # republished with the same ce_id: once in effect for a deduplicating reader
    assert 2 in ids.values()


async def test_outbox_rows_of_a_few_kilobytes_stay_inline_and_uncompressed(db):
    """Migration 0006: a routed event of ~3 kB is not pglz-compressed on its way through the
    outbox (it is deleted milliseconds later; compressing it cost 4x the insert)."""
    from services.common.envelope import Event
    from services.common.outbox import enqueue

    data = {"text": "my flight was delayed and the refund never came " * 60}  # ~3 kB, very compressible
    async with db.transaction():
        written = await enqueue(db, "test", [("cases.billing.v1", Event(type="t", source="s", data=data, key="k"))])
    assert len(written.rows[0][3]) > 2500
    compression = await db.fetchval("SELECT pg_column_compression(payload) FROM outbox WHERE id = $1", written.ids[0])
    assert compression is None


AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


async def _new_case(db, author_external_id: str, case_id: str) -> CaseState:
    """An author and a freshly written open case of theirs, opened at AT."""
    author = await db.fetchval("INSERT INTO authors (channel, external_id, person_id) VALUES ('x', $1, 1) "
                               "RETURNING id", author_external_id)
    case = CaseState(id=case_id, status="open", department="billing", departments=["billing"], priority="normal",
                     priority_score=40, channel="x", author_id=author, person_id=author,
                     conversation_key=f"x:{author_external_id}", sla_policy="default", opened_at=AT,
                     last_mention_at=AT, first_response_due_at=AT + timedelta(hours=1), mention_count=1, is_new=True,
                     changed=True)
    await write_cases(db, [case])
    return case


async def test_case_updates_of_a_new_mention_write_no_index_entry(db):
    """Migration 0008: a mention added to a case changes last_mention_at and its counts, none of
    them indexed any more, so the update is HOT (heap only). Before, every case update wrote an
    entry into each of the table's seven indexes."""
    async with db.transaction():
        case = await _new_case(db, "hot-1", "018f0000-0000-7000-8000-000000000001")
        case.is_new = False
        for n in range(2, 12):
            case.last_mention_at, case.mention_count = AT + timedelta(minutes=n), n
            await write_cases(db, [case])
        updated, hot = await db.fetchrow("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                                         "WHERE relname = 'cases'")
    assert (updated, hot) == (10, 10)


async def test_mentions_copied_in_and_a_row_already_there_skipped_not_failed(db):
    """Mentions go in by COPY; when one is already there (another replica routed it during a
    rebalance, or a producer reused a post's channel and id under another mention id) the
    savepoint rolls the COPY back and the row-by-row insert skips that row alone."""
    def row(mention_id: str, external_id: str, text: str) -> tuple:
        return (mention_id, case.id, "x", external_id, None, None, case.author_id, text, "en", None, AT, AT,
                '{"sentiment": {"label": "negative"}}', "null")

    async with db.transaction():
        case = await _new_case(db, "cp-1", "018f0000-0000-7000-8000-0000000000c1")
        await insert_mentions(db, [row("00000000-0000-5000-8000-000000000001", "p1", "first"),
                                   row("00000000-0000-5000-8000-000000000002", "p2", "second")])
        # p2 again under another id (the unique (channel, external_id) refuses the COPY), and a new p3
        await insert_mentions(db, [row("00000000-0000-5000-8000-000000000003", "p2", "second, reused id"),
                                   row("00000000-0000-5000-8000-000000000004", "p3", "third")])
        rows = await db.fetch("SELECT external_id, text, classification->'sentiment'->>'label' AS label, raw "
                              "FROM mentions WHERE case_id = $1 ORDER BY external_id", case.id)
    assert [(r["external_id"], r["text"], r["label"]) for r in rows] == [
        ("p1", "first", "negative"), ("p2", "second", "negative"), ("p3", "third", "negative")]
    assert all(r["raw"] == "null" for r in rows)  # jsonb null, as the insert stored it
