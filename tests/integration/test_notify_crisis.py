"""Crisis detection from classified mentions: one page to PR per episode, with the top examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.clock import ManualClock
from services.common.db import load_migrations
from services.common.envelope import Event
from services.common.ids import mention_id
from services.common.timeutil import format_rfc3339
from services.common.topics import MENTIONS_CLASSIFIED, EventType
from tests.integration.test_notify_helpers import Receiver, notify
from tests.support import Running, produce_events, validate_event, wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CRISIS_ENV = {"HEATDESK_NOTIFY_CRISIS_MIN_COUNT": "5", "HEATDESK_NOTIFY_CRISIS_WINDOW_S": "900",
              "HEATDESK_NOTIFY_CRISIS_MULTIPLE": "3", "HEATDESK_NOTIFY_CRISIS_COOLDOWN_S": "3600"}


def classified(n: int, at: datetime, *, label: str = "negative", followers: int = 100, product: str = "Acme Router",
               text: str = "@AcmeHelp my Acme Router keeps dropping out") -> Event:
    external = f"crisis-{n}"
    mention = {"id": mention_id("x", external), "channel": "x", "external_id": external,
               "author": {"id": f"u{n}", "handle": f"@u{n}", "name": None, "followers": followers, "verified": False},
               "text": f"{text} ({n})", "created_at": format_rfc3339(at), "received_at": format_rfc3339(at)}
    classification = {"sentiment": {"label": label, "score": 0.9}, "intent": "complaint", "flags": [],
                      "department": "product", "department_scores": {"product": 0.9},
                      "entities": [{"label": "product", "text": product, "value": product}],
                      "priority": {"score": 60, "bucket": "high"}, "cues": {}, "model_version": "test"}
    event = Event(type=EventType.MENTION_CLASSIFIED, source="heatdesk/classify", key=f"x:u{n}",
                  data={"mention": mention, "classification": classification})
    validate_event(event)
    return event


async def hits(db, n: int) -> None:
    async def done() -> bool:
        return await db.fetchval("SELECT count(*) FROM crisis_mentions") >= n

    await wait_for(done)


async def test_a_spike_pages_pr_once_per_episode_with_the_top_examples(service_env, broker, db):
    baseline = [classified(i, T0 - timedelta(hours=24 - i)) for i in range(24)]  # one an hour: usual 0.25 a window
    calm = [classified(100 + i, T0 + timedelta(minutes=i), label="positive") for i in range(10)]
    spike = [classified(200 + i, T0 + timedelta(minutes=2 * i), followers=(i + 1) * 1000) for i in range(6)]
    more = [classified(300 + i, T0 + timedelta(minutes=20 + i)) for i in range(6)]
    again = [classified(400 + i, T0 + timedelta(hours=3, minutes=i), product="Acme Phone") for i in range(6)]
    async with Receiver() as receiver:
        svc = notify(service_env, ManualClock(T0 + timedelta(hours=4)), HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url,
                     **CRISIS_ENV)
        async with Running(svc):
            await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, baseline + calm)
            await hits(db, 24)
            await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, spike)
            await hits(db, 30)
            await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, more + spike)  # the same episode; redeliveries
            await hits(db, 36)
            await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, again)
            await hits(db, 42)
            while (await svc.deliver_once()).attempted:
                pass
            registry = svc.metrics.registry
    assert await db.fetchval("SELECT count(*) FROM crisis_mentions WHERE mention_id = $1",
                             calm[0].data["mention"]["id"]) == 0
    # The minute counts the windows read hold each mention once per key, redeliveries included.
    assert await db.fetch("SELECT scope, key, sum(n) AS n FROM crisis_counts GROUP BY 1, 2 ORDER BY 1, 2") == \
        await db.fetch("SELECT k.scope, k.key, count(*) AS n FROM crisis_mentions, unnest(scopes, keys) AS k(scope, key) "
                       "GROUP BY 1, 2 ORDER BY 1, 2")
    first, second = (c["heatdesk"] for c in receiver.calls)
    assert (first["scope"], first["key"]) == ("product", "acme router")
    assert first["count"] in (5, 6)  # hot at the fifth; a batch may already hold the sixth
    assert {(a["scope"], a["key"]) for a in first["also"]} == {("brand", "all"), ("brand", "@acmehelp"),
                                                               ("topic", "product")}
    n = first["count"]
    assert [e["followers"] for e in first["examples"]] == [n * 1000, (n - 1) * 1000, (n - 2) * 1000]  # reach first
    assert first["baseline"] == 0.25 and first["threshold"] == 5.0
    assert receiver.calls[0]["text"].startswith(f":fire: Crisis - {first['count']} negative mentions of product acme "
                                                "router in 15 min")
    # Three hours later: the first episodes are over; "acme phone" is new, brand and topic spike again.
    assert (second["scope"], second["key"]) == ("product", "acme phone")
    assert {(a["scope"], a["key"]) for a in second["also"]} == {("brand", "all"), ("brand", "@acmehelp"),
                                                                ("topic", "product")}
    episodes = await db.fetch("SELECT scope, key, ended_at IS NULL AS open, peak_count FROM crisis_episodes "
                              "ORDER BY id")
    assert [(e["scope"], e["key"], e["open"]) for e in episodes if e["key"] == "all"] == [
        ("brand", "all", False), ("brand", "all", True)]
    router = next(e for e in episodes if e["key"] == "acme router")
    assert router["open"] and router["peak_count"] == 6  # the spike went on (six more in 15 min), silently
    assert registry.get_sample_value("heatdesk_crisis_alerts_total", {"scope": "product"}) == 2


async def test_housekeeping_forgets_old_event_ids_and_hits_beyond_the_baseline(service_env, db):
    await db.execute("INSERT INTO notify_events_seen (event_id, seen_at) VALUES ('old', now() - interval '36 days'), "
                     "('recent', now() - interval '20 days')")
    for n, at in ((1, T0 - timedelta(days=2)), (2, T0 - timedelta(hours=20)), (3, T0)):
        await db.execute("INSERT INTO crisis_mentions (mention_id, created_at, channel, excerpt, scopes, keys) "
                         "VALUES ($1, $2, 'x', 'bad', '{brand}', '{all}')", mention_id("x", f"hk-{n}"), at)
    svc = notify(service_env)
    async with Running(svc):
        await svc.housekeeping()
    assert [r["event_id"] for r in await db.fetch("SELECT event_id FROM notify_events_seen")] == ["recent"]
    kept = [r["created_at"] for r in await db.fetch("SELECT created_at FROM crisis_mentions ORDER BY created_at")]
    assert kept == [T0 - timedelta(hours=20), T0]  # the baseline (24 h) plus the window still needs these


async def test_a_spike_read_long_after_it_happened_opens_an_episode_but_pages_nobody(service_env, broker, db):
    # A new consumer group reads a week of mentions: yesterday's spike is history, not news.
    old = [classified(500 + i, T0 - timedelta(days=2, minutes=-i)) for i in range(6)]
    async with Receiver() as receiver:
        svc = notify(service_env, ManualClock(T0), HEATDESK_NOTIFY_WEBHOOK_URL=receiver.url, **CRISIS_ENV)
        async with Running(svc):
            await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, old)
            await hits(db, 6)
            await svc.deliver_once()
    assert receiver.calls == [] and await db.fetchval("SELECT count(*) FROM notifications") == 0
    assert await db.fetchval("SELECT count(*) FROM crisis_episodes WHERE key = 'acme router'") == 1


CRISIS_HITS_0003 = """CREATE TABLE crisis_hits (
    scope text NOT NULL, key text NOT NULL, mention_id uuid NOT NULL, created_at timestamptz NOT NULL,
    channel text NOT NULL, followers integer NOT NULL DEFAULT 0, score real NOT NULL DEFAULT 0, excerpt text NOT NULL,
    url text, PRIMARY KEY (scope, key, mention_id))"""  # as migration 0003 made it (0007 replaced it)


async def test_migration_0005_counts_the_hits_already_stored_per_utc_minute(db):
    # A deployment upgraded with hits in place: the windows must see them from the first batch.
    await db.execute("DROP TABLE crisis_counts")
    await db.execute(CRISIS_HITS_0003)
    for n, at in ((1, "2026-03-02 12:00:01+00"), (2, "2026-03-02 12:00:59.9+00"), (3, "2026-03-02 13:01:00+01")):
        await db.execute("INSERT INTO crisis_hits (scope, key, mention_id, created_at, channel, excerpt) "
                         "VALUES ('brand', 'all', $1, $2::text::timestamptz, 'x', 'bad')", mention_id("x", f"m5-{n}"), at)
    (migration,) = [m for m in load_migrations() if m.version == 5]
    await db.execute(migration.sql)
    rows = await db.fetch("SELECT minute, n FROM crisis_counts WHERE scope = 'brand' AND key = 'all' ORDER BY minute")
    assert [(r["minute"], r["n"]) for r in rows] == [(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), 2),
                                                      (datetime(2026, 3, 2, 12, 1, tzinfo=UTC), 1)]


async def test_migration_0007_keeps_one_row_per_mention_with_every_key_it_counted_under(db):
    await db.execute("DROP TABLE crisis_mentions")
    await db.execute(CRISIS_HITS_0003)
    first, second = mention_id("x", "m7-1"), mention_id("x", "m7-2")
    for scope, key, mention in (("brand", "all", first), ("product", "acme router", first), ("topic", "product", first),
                                ("brand", "all", second)):
        await db.execute("INSERT INTO crisis_hits (scope, key, mention_id, created_at, channel, followers, excerpt) "
                         "VALUES ($1, $2, $3, $4, 'x', 70, 'bad')", scope, key, mention, T0)
    (migration,) = [m for m in load_migrations() if m.version == 7]
    await db.execute(migration.sql)
    rows = {str(r["mention_id"]): (list(zip(r["scopes"], r["keys"], strict=True)), r["followers"], r["excerpt"])
            for r in await db.fetch("SELECT * FROM crisis_mentions")}
    assert rows == {first: ([("brand", "all"), ("product", "acme router"), ("topic", "product")], 70, "bad"),
                    second: ([("brand", "all")], 70, "bad")}
    assert await db.fetchval("SELECT to_regclass('crisis_hits')") is None
