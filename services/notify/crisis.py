"""Crisis detection: spikes of negative mentions per brand, product and topic.

Each negative mention (sentiment negative, not spam) counts under a few bounded keys:
`brand/all` and the brand handles it addresses, `product/<name>` for each product the
classifier found, `topic/<department>`. A window (default 15 min, event time) is hot when
its count reaches both `min_count` and `multiple` × the usual count of such a window over
the baseline (default the previous 24 h). The first hot window opens an *episode* and pages
PR with the top examples (largest reach first); further hot windows extend the episode
silently; an episode ends after `cooldown` without a hot window, and only then can a new
one page again. At most one open episode per key is a unique index, so two replicas
cannot both page.

Why PostgreSQL windows in notify's consumer, not faust windowed tables: (1) counts must be
exact under redelivery - a mention is a row keyed by its id, inserted once, whereas faust
table updates without `exactly_once` (which DESIGN.md rules out) double-count replays;
(2) "once per episode" across replicas needs shared durable state anyway; (3) faust would
need a repartition topic keyed by brand/product plus changelog topics and its own
consumer group and worker lifecycle beside the service skeleton.

Windows are whole minutes of event time: each new hit adds one to its key's minute in
`crisis_counts`, and a batch reads the window and baseline of every key it touched in one
query (at most one row per minute, however busy the key). The window ending at a hit is its
minute and the minutes before it, `window_s` rounded up to whole minutes; counting the hits
themselves read a day of rows per key per batch and grew with traffic.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from services.common import pii
from services.common.slapolicy import PolicySet
from services.common.timeutil import format_rfc3339, parse_rfc3339

HANDLE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{2,30})")
MAX_HANDLES, MAX_PRODUCTS, EXAMPLES = 3, 5, 3
#: Joins a mention's scopes (and its keys) into one text that PostgreSQL splits back into an
#: array; no key holds it (`scope_keys` drops it from product names, handles cannot have it).
KEY_SEPARATOR = "\x1f"


@dataclasses.dataclass(frozen=True)
class CrisisConfig:
    window_s: float = 900.0
    baseline_s: float = 86400.0
    multiple: float = 3.0
    min_count: int = 20
    cooldown_s: float = 3600.0
    roles: tuple[str, ...] = ("pr",)


@dataclasses.dataclass(frozen=True, slots=True)
class NegativeMention:
    """A mention that counts towards crisis windows: one `crisis_mentions` row, counted under each
    of its keys (scope, key)."""

    mention_id: str
    created_at: datetime
    channel: str
    followers: int
    score: float
    excerpt: str
    url: str | None
    keys: tuple[tuple[str, str], ...]


def is_negative(classification: Mapping[str, Any]) -> bool:
    sentiment = classification.get("sentiment") or {}
    return sentiment.get("label") == "negative" and classification.get("intent") != "spam"


def scope_keys(mention: Mapping[str, Any], classification: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The bounded keys a negative mention counts under (never an author or a text)."""
    keys = [("brand", "all")]
    if mention.get("channel") in ("x", "facebook", "instagram"):
        handles = dict.fromkeys(h.lower() for h in HANDLE.findall(mention.get("text") or ""))
        keys += [("brand", f"@{h}") for h in list(handles)[:MAX_HANDLES]]
    products = dict.fromkeys(str(e.get("value") or e.get("text") or "").replace(KEY_SEPARATOR, "").strip().lower()
                             for e in classification.get("entities") or () if e.get("label") == "product")
    keys += [("product", p) for p in list(products)[:MAX_PRODUCTS] if p]
    if classification.get("department"):
        keys.append(("topic", str(classification["department"])))
    return keys


def negative_mention(mention: Mapping[str, Any], classification: Mapping[str, Any]) -> NegativeMention | None:
    """What crisis detection keeps of a mention; None when it does not count (not negative, or spam)."""
    if not is_negative(classification):
        return None
    # Masked before it is stored: the excerpt leaves in every crisis webhook and email.
    text = pii.mask(" ".join(str(mention.get("text") or "").split()), pii.allowed())
    return NegativeMention(
        mention_id=str(mention["id"]).lower(), created_at=parse_rfc3339(mention["created_at"]),
        channel=str(mention.get("channel") or "other"), followers=int((mention.get("author") or {}).get("followers") or 0),
        score=float((classification.get("sentiment") or {}).get("score") or 0.0),
        excerpt=text if len(text) <= 200 else text[:199] + "…", url=mention.get("url"),
        keys=tuple(dict.fromkeys(scope_keys(mention, classification))))


def threshold(baseline_count: int, config: CrisisConfig) -> tuple[float, float]:
    """(usual count of one window, count that makes a window hot)."""
    usual = baseline_count * config.window_s / config.baseline_s
    return usual, max(float(config.min_count), config.multiple * usual)


async def record(conn: asyncpg.Connection, negatives: Sequence[NegativeMention]) -> dict[tuple[str, str], datetime]:
    """Store each mention once (by id, with the keys it counts under); the newest new hit per
    key, for the keys that changed. A redelivered mention adds nothing."""
    if not negatives:
        return {}
    by_id = {n.mention_id: n for n in reversed(negatives)}  # a batch may hold a mention twice: its first copy
    firsts = list(by_id.values())
    rows = await conn.fetch(
        """INSERT INTO crisis_mentions (mention_id, created_at, channel, followers, score, excerpt, url, scopes, keys)
           SELECT t.mention_id, t.created_at, t.channel, t.followers, t.score, t.excerpt, t.url,
                  string_to_array(t.scopes, E'\\x1f'), string_to_array(t.keys, E'\\x1f')
             FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[], $5::real[], $6::text[], $7::text[],
                         $8::text[], $9::text[])
                  AS t(mention_id, created_at, channel, followers, score, excerpt, url, scopes, keys)
           ON CONFLICT (mention_id) DO NOTHING RETURNING mention_id::text""",
        list(by_id), [n.created_at for n in firsts], [n.channel for n in firsts], [n.followers for n in firsts],
        [n.score for n in firsts], [n.excerpt for n in firsts], [n.url for n in firsts],
        [KEY_SEPARATOR.join(k[0] for k in n.keys) for n in firsts],
        [KEY_SEPARATOR.join(k[1] for k in n.keys) for n in firsts])
    newest: dict[tuple[str, str], datetime] = {}
    added: Counter[tuple[str, str, datetime]] = Counter()
    for r in rows:
        n = by_id[r["mention_id"]]
        minute = minute_of(n.created_at)
        for k in n.keys:
            newest[k] = max(newest.get(k, n.created_at), n.created_at)
            added[(k[0], k[1], minute)] += 1
    if added:
        # Sorted: concurrent replicas lock the rows they share in one order, so never deadlock.
        counted = sorted(added.items())
        await conn.execute(
            """INSERT INTO crisis_counts (scope, key, minute, n)
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[])
               ON CONFLICT (scope, key, minute) DO UPDATE SET n = crisis_counts.n + EXCLUDED.n""",
            [k[0] for k, _ in counted], [k[1] for k, _ in counted], [k[2] for k, _ in counted],
            [n for _, n in counted])
    return newest


def minute_of(at: datetime) -> datetime:
    """The minute bucket of a hit (event time, UTC)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


async def window_counts(conn: asyncpg.Connection, touched: Mapping[tuple[str, str], datetime],
                        config: CrisisConfig) -> dict[tuple[str, str], tuple[int, int]]:
    """(scope, key) → (count of the window ending at its newest hit, count of the baseline before it)."""
    keys = sorted(touched)
    rows = await conn.fetch(
        """SELECT t.scope, t.key,
                  COALESCE(sum(c.n) FILTER (WHERE c.minute > t.last - $4::interval), 0)::int AS now_count,
                  COALESCE(sum(c.n) FILTER (WHERE c.minute <= t.last - $4::interval), 0)::int AS base_count
             FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(scope, key, last)
             LEFT JOIN crisis_counts c ON c.scope = t.scope AND c.key = t.key
                   AND c.minute > t.last - $4::interval - $5::interval AND c.minute <= t.last
            GROUP BY t.scope, t.key""",
        [k[0] for k in keys], [k[1] for k in keys], [minute_of(touched[k]) for k in keys],
        timedelta(seconds=60 * math.ceil(config.window_s / 60)), timedelta(seconds=config.baseline_s))
    return {(r["scope"], r["key"]): (r["now_count"], r["base_count"]) for r in rows}


async def evaluate(conn: asyncpg.Connection, touched: Mapping[tuple[str, str], datetime], config: CrisisConfig,
                   policies: PolicySet, deliverable: Callable[[str], bool] = lambda t: True,
                   page_from: datetime | None = None) -> list[dict[str, Any]]:
    """Open an episode for every key whose window just became hot, page once for them all; return the episodes.

    Windows that ended before `page_from` (old mentions read by a new consumer group) open
    their episodes - so they are not paged later either - but page nobody.
    """
    alerts = []
    window = timedelta(seconds=config.window_s)
    counted = await window_counts(conn, touched, config) if touched else {}
    for (scope, key), end in sorted(touched.items()):
        now_count, base_count = counted.get((scope, key), (0, 0))
        usual, hot_at = threshold(base_count, config)
        if now_count < hot_at:
            continue
        open_episode = await conn.fetchrow(
            "SELECT id, last_hot_at FROM crisis_episodes WHERE scope = $1 AND key = $2 AND ended_at IS NULL FOR UPDATE",
            scope, key)
        if open_episode is not None and end - open_episode["last_hot_at"] <= timedelta(seconds=config.cooldown_s):
            await conn.execute("UPDATE crisis_episodes SET last_hot_at = greatest(last_hot_at, $2), "
                               "peak_count = greatest(peak_count, $3) WHERE id = $1",
                               open_episode["id"], end, now_count)
            continue
        if open_episode is not None:  # quiet for longer than the cool-down: that episode is over
            await conn.execute("UPDATE crisis_episodes SET ended_at = last_hot_at + $2::interval WHERE id = $1",
                               open_episode["id"], timedelta(seconds=config.cooldown_s))
        examples = [dict(r) for r in await conn.fetch(
            """SELECT mention_id::text, channel, excerpt, followers, url, created_at FROM crisis_mentions
                WHERE created_at > $3::timestamptz - $4::interval AND created_at <= $3
                  AND EXISTS (SELECT 1 FROM unnest(scopes, keys) AS k(scope, key) WHERE k.scope = $1 AND k.key = $2)
                ORDER BY followers DESC, score DESC, created_at DESC LIMIT $5""", scope, key, end, window, EXAMPLES)]
        for e in examples:
            e["created_at"] = format_rfc3339(e["created_at"])
        episode_id = await conn.fetchval(
            """INSERT INTO crisis_episodes (scope, key, started_at, last_hot_at, peak_count, baseline, examples)
               VALUES ($1, $2, $3, $3, $4, $5, $6::jsonb)
               ON CONFLICT (scope, key) WHERE ended_at IS NULL DO NOTHING RETURNING id""",
            scope, key, end, now_count, usual, orjson.dumps(examples).decode())
        if episode_id is None:
            continue  # another replica opened it first: it pages, not us
        alerts.append({"episode_id": episode_id, "scope": scope, "key": key, "window_start": format_rfc3339(end - window),
                       "window_end": format_rfc3339(end), "window_s": config.window_s, "count": now_count,
                       "baseline": round(usual, 2), "threshold": round(hot_at, 2), "multiple": config.multiple,
                       "examples": examples})
    fresh = [a for a in alerts if page_from is None or parse_rfc3339(a["window_end"]) >= page_from]
    if fresh:
        await _page(conn, fresh, config, policies, deliverable)
    for a in alerts:
        a.setdefault("targets", [])
    return alerts


#: Most specific first: the key an alert leads with when one spike makes several keys hot.
SPECIFICITY = {"product": 0, "topic": 1, "brand": 2}


async def _page(conn: asyncpg.Connection, opened: list[dict[str, Any]], config: CrisisConfig, policies: PolicySet,
                deliverable: Callable[[str], bool]) -> None:
    """One page for the episodes one batch opened (one spike makes brand, product and topic hot together)."""
    opened.sort(key=lambda a: (SPECIFICITY.get(a["scope"], 9), a["key"] == "all", a["key"]))
    lead = opened[0]
    alert = {"category": "crisis", **lead, "also": [{"scope": a["scope"], "key": a["key"], "count": a["count"],
                                                     "episode_id": a["episode_id"]} for a in opened[1:]]}
    targets = [t for t in dict.fromkeys(t for role in config.roles for t in policies.targets_for(role, "pr"))
               if deliverable(t)]
    alert["targets"] = targets
    episodes = "-".join(str(a["episode_id"]) for a in sorted(opened, key=lambda a: a["episode_id"]))
    await conn.executemany(
        """INSERT INTO notifications (case_id, timer_kind, cycle, threshold, target, payload, dedupe_key, category)
           VALUES (NULL, 'crisis', 0, $1, $2, $3::jsonb, $4, 'crisis') ON CONFLICT (dedupe_key) DO NOTHING""",
        [(f"{lead['scope']}:{lead['key']}", t, orjson.dumps(alert).decode(), f"crisis:{episodes}:{t}") for t in targets])
    for a in opened:
        a["targets"] = targets


async def prune(conn: asyncpg.Connection, config: CrisisConfig) -> int:
    """Forget hits and minute counts older than the baseline needs (event time: replays of old data are safe)."""
    keep = timedelta(seconds=config.window_s + config.baseline_s + 3600)
    status = await conn.execute(
        """DELETE FROM crisis_mentions WHERE created_at < (SELECT max(created_at) FROM crisis_mentions) - $1::interval""",
        keep)
    await conn.execute(
        """DELETE FROM crisis_counts
            WHERE minute < (SELECT max(minute) FROM crisis_counts) - $1::interval - interval '1 minute'""", keep)
    return int(status.split()[-1])
