"""Applying a batch of case lifecycle events: dedupe, lock, run the engine, write back.

One transaction per batch (the consumer's): events already applied (by CloudEvent id)
are skipped, the cases are locked in id order (two replicas overlapping in a rebalance
serialise instead of deadlocking), and the clocks the engine touched are written with
their new schedules. The watermarks of event-time mode advance in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.common.consumer_loop import Incoming
from services.common.errors import PoisonRecord
from services.common.timeutil import parse_rfc3339
from services.notify import store
from services.notify.engine import CaseSla, Effect, Engine


async def fresh_events(conn: asyncpg.Connection, items: Sequence[Incoming]) -> list[Incoming]:
    """The items not applied before (first occurrence of each id), in batch order."""
    ids = list(dict.fromkeys(i.event.id for i in items))
    if not ids:
        return []
    rows = await conn.fetch("INSERT INTO notify_events_seen (event_id) SELECT unnest($1::text[]) "
                            "ON CONFLICT DO NOTHING RETURNING event_id", ids)
    new = {r["event_id"] for r in rows}
    out = []
    for item in items:
        if item.event.id in new:
            new.discard(item.event.id)
            out.append(item)
    return out


def _case_id(item: Incoming) -> str:
    case = item.event.data.get("case")
    if not isinstance(case, dict) or not isinstance(case.get("id"), str):
        raise PoisonRecord("schema_violation", f"{item.event.type} lacks the case snapshot")
    return case["id"]


async def apply_events(conn: asyncpg.Connection, engine: Engine, items: Sequence[Incoming]
                       ) -> list[tuple[CaseSla, Effect]]:
    """Apply the batch's case events inside the caller's transaction; the clock changes made."""
    todo = await fresh_events(conn, items)
    if not todo:
        return []
    case_ids = [_case_id(i) for i in todo]
    states, fired = await store.load(conn, case_ids)
    stored = {case_id: store.state_row(state) for case_id, state in states.items()}
    changes: list[tuple[CaseSla, Effect]] = []
    touched: dict[str, CaseSla] = {}
    for item, case_id in zip(todo, case_ids, strict=True):
        try:
            state, effects = engine.apply(states.get(case_id), item.event.type, item.event.data)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise PoisonRecord("schema_violation", f"{item.event.type}: {type(exc).__name__}: {exc}") from exc
        if state is None:
            continue
        states[case_id] = touched[case_id] = state
        changes += [(state, e) for e in effects]
    # Most events of a known case (another mention) change none of its stored fields.
    await store.save_states(conn, [row for case_id, state in touched.items()
                                   if (row := store.state_row(state)) != stored.get(case_id)])
    await store.save_clocks(conn, changes, fired)
    return changes


async def advance_watermarks(conn: asyncpg.Connection, items: Sequence[Incoming]) -> None:
    """Newest event time per partition (event-time mode reads the slowest active one)."""
    newest: dict[tuple[str, int], datetime] = {}
    for item in items:
        try:
            at = parse_rfc3339(item.event.data["occurred_at"])
        except (KeyError, ValueError):
            continue
        key = (item.record.topic, item.record.partition)
        newest[key] = max(newest.get(key, at), at)
    if newest:
        await conn.executemany(
            """INSERT INTO notify_watermarks (topic, partition, event_time) VALUES ($1, $2, $3)
               ON CONFLICT (topic, partition) DO UPDATE
               SET event_time = greatest(notify_watermarks.event_time, EXCLUDED.event_time), updated_at = now()""",
            [(t, p, at) for (t, p), at in sorted(newest.items())])


async def event_time_now(conn: asyncpg.Connection, idle_s: float) -> datetime | None:
    """The event clock: the slowest recently active partition's newest event (else the newest overall)."""
    return await conn.fetchval(
        """SELECT coalesce(min(event_time) FILTER (WHERE updated_at > now() - make_interval(secs => $1::float8)),
                           max(event_time)) FROM notify_watermarks""", idle_s)
