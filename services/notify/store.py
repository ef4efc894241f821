"""Persistence of the SLA state: `sla_cases` rows and their clocks in `sla_timers`.

The consumer loads the states of a batch's cases with row locks, runs the pure engine and
writes back one row per touched clock. Each clock row carries its steps with their due
times and the names already fired, so the scanner needs nothing but the row to fire the
next step, and a clock that pauses, resumes or is retargeted never fires a step twice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import orjson

from services.common.slapolicy import SlaClock
from services.common.timeutil import format_rfc3339
from services.notify.engine import SLOTS, Armed, CaseSla, Effect, Ended

ClockKey = tuple[str, str, int]  # (case id, kind, cycle)


async def load(conn: asyncpg.Connection, case_ids: Sequence[str]) -> tuple[dict[str, CaseSla], dict[ClockKey, set[str]]]:
    """States of these cases (locked for this transaction) and the fired steps of their active clocks."""
    ids = sorted(set(case_ids))
    states: dict[str, CaseSla] = {}
    fired: dict[ClockKey, set[str]] = {}
    if not ids:
        return states, fired
    for r in await conn.fetch(
            """SELECT case_id::text, status, policy, priority, department, channel, public, tags, opened_at,
                      first_response_due_at, first_responded, cycles
                 FROM sla_cases WHERE case_id = ANY($1::uuid[]) ORDER BY case_id FOR UPDATE""", ids):
        states[r["case_id"]] = CaseSla(
            case_id=r["case_id"], status=r["status"], policy=r["policy"], priority=r["priority"],
            department=r["department"], channel=r["channel"], public=r["public"], tags=tuple(r["tags"]),
            opened_at=r["opened_at"], first_response_due_at=r["first_response_due_at"],
            first_responded=r["first_responded"], cycles=orjson.loads(r["cycles"]))
    for r in await conn.fetch(
            """SELECT case_id::text, kind, cycle, started_at, target_s, elapsed_s, resumed_at, last_change_at, fired
                      , state = 'stopped' AS stopped, outcome
                 FROM sla_timers WHERE case_id = ANY($1::uuid[])
                  AND (state <> 'stopped' OR (kind = 'first_response' AND cycle = 0))
                ORDER BY case_id, kind, cycle FOR UPDATE""", ids):
        state = states.get(r["case_id"])
        clock = SlaClock(r["kind"], r["cycle"], r["started_at"], r["target_s"] or 0.0, r["elapsed_s"],
                         r["resumed_at"], r["last_change_at"])
        if r["stopped"]:  # the measured first response, which a late event may still correct
            if state is not None and r["outcome"] in ("met", "breached"):
                state.first_measured = clock
            continue
        fired[(r["case_id"], r["kind"], r["cycle"])] = set(r["fired"])
        if state is None:
            continue  # a timer armed before sla_cases existed: the engine re-arms it from the next event
        slot = SLOTS[clock.kind]
        if slot not in state.clocks or state.clocks[slot].cycle < clock.cycle:
            state.clocks[slot] = clock
    return states, fired


def state_row(s: CaseSla) -> tuple[object, ...]:
    """The `sla_cases` row of a state (cycles with sorted keys): equal rows need no write."""
    return (s.case_id, s.status, s.policy, s.priority, s.department, s.channel, s.public, list(s.tags), s.opened_at,
            s.first_response_due_at, s.first_responded, orjson.dumps(s.cycles, option=orjson.OPT_SORT_KEYS).decode())


async def save_states(conn: asyncpg.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Upsert `state_row`s."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    columns[7] = [orjson.dumps(tags).decode() for tags in columns[7]]  # ragged: one JSON array each
    await conn.execute(  # one statement for the batch, as save_clocks: see _upsert_clocks
        """INSERT INTO sla_cases (case_id, status, policy, priority, department, channel, public, tags, opened_at,
                                  first_response_due_at, first_responded, cycles)
           SELECT t.case_id, t.status, t.policy, t.priority, t.department, t.channel, t.public,
                  ARRAY(SELECT jsonb_array_elements_text(t.tags::jsonb)), t.opened_at, t.first_response_due_at,
                  t.first_responded, t.cycles::jsonb
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
                         $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bool[], $12::text[])
                  AS t(case_id, status, policy, priority, department, channel, public, tags, opened_at,
                       first_response_due_at, first_responded, cycles)
           ON CONFLICT (case_id) DO UPDATE SET status = EXCLUDED.status, policy = EXCLUDED.policy,
               priority = EXCLUDED.priority, department = EXCLUDED.department, channel = EXCLUDED.channel,
               public = EXCLUDED.public, tags = EXCLUDED.tags, opened_at = EXCLUDED.opened_at,
               first_response_due_at = EXCLUDED.first_response_due_at,
               first_responded = EXCLUDED.first_responded, cycles = EXCLUDED.cycles, updated_at = now()""",
        *[list(column) for column in columns])


def steps_json(effect: Armed) -> list[dict[str, object]]:
    return [{**step.fields, "at": format_rfc3339(at) if at is not None else None}
            for step, at in zip(effect.steps, effect.times, strict=True)]


def next_due(steps: Iterable[tuple[str, datetime | None]], fired: set[str]) -> datetime | None:
    """The earliest due time of a step (name, due at) not fired yet (None: nothing left, or paused)."""
    times = [at for name, at in steps if name not in fired and at is not None]
    return min(times) if times else None


def _row(s: CaseSla, effect: Effect, fired: set[str]) -> tuple[object, ...]:
    c = effect.clock
    if isinstance(effect, Ended):
        return (s.case_id, c.kind, c.cycle, s.department, s.priority, s.channel, s.policy, c.started_at, c.target_s,
                effect.elapsed_s, None, effect.at, None, None, None, "stopped", effect.at, effect.outcome,
                effect.elapsed_s)
    steps = steps_json(effect)
    due = next_due(zip((step.name for step in effect.steps), effect.times, strict=True), fired)
    state = "paused" if not c.running else ("armed" if due is not None else "fired")
    return (s.case_id, c.kind, c.cycle, s.department, s.priority, s.channel, s.policy, c.started_at, c.target_s,
            c.elapsed_s, c.resumed_at, c.last_change_at, due, effect.breach_at, orjson.dumps(steps).decode(), state,
            None, None, None)


async def save_clocks(conn: asyncpg.Connection, changes: Sequence[tuple[CaseSla, Effect]],
                      fired: dict[ClockKey, set[str]]) -> None:
    """Write the last change of every touched clock (one row each, in a stable order)."""
    last: dict[ClockKey, tuple[CaseSla, Effect]] = {}
    for s, effect in changes:
        last[(s.case_id, effect.clock.kind, effect.clock.cycle)] = (s, effect)
    rows = [_row(s, e, fired.get(key, set())) for key, (s, e) in sorted(last.items())]
    running = [r for r in rows if r[_STEPS] is not None]
    ended = [r for r in rows if r[_STEPS] is None]
    for group, keep_steps in ((running, False), (ended, True)):
        if group:
            await conn.execute(_upsert_clocks(keep_steps), *[list(column) for column in zip(*group, strict=True)])


_CLOCK_COLUMNS = (("case_id", "uuid"), ("kind", "text"), ("cycle", "int"), ("department", "text"),
                  ("priority", "text"), ("channel", "text"), ("policy", "text"), ("started_at", "timestamptz"),
                  ("target_s", "float8"), ("elapsed_s", "float8"), ("resumed_at", "timestamptz"),
                  ("last_change_at", "timestamptz"), ("due_at", "timestamptz"), ("breach_at", "timestamptz"),
                  ("steps", "text"), ("state", "text"), ("stopped_at", "timestamptz"), ("outcome", "text"),
                  ("latency_s", "float8"))
_STEPS = [name for name, _ in _CLOCK_COLUMNS].index("steps")  # None in an ended clock's `_row`


@functools.cache
def _upsert_clocks(keep_steps: bool) -> str:
    """One statement for a batch's clocks (`_row`s as column arrays), not one per clock.

    Bind and execute per row made this upsert notify's costliest statement: on the local
    server 20-25 us of PostgreSQL CPU per new clock row, 8-12 us when the rows come as arrays
    (`unnest`). An ended clock (`keep_steps`) keeps the steps it had: its row has none.
    """
    names = ", ".join(name for name, _ in _CLOCK_COLUMNS)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_CLOCK_COLUMNS, start=1))
    values = ", ".join("coalesce(t.steps::jsonb, '[]')" if name == "steps" else f"t.{name}"
                       for name, _ in _CLOCK_COLUMNS)
    return f"""INSERT INTO sla_timers ({names})
           SELECT {values} FROM unnest({arrays}) AS t({names})
           ON CONFLICT (case_id, kind, cycle) DO UPDATE SET department = EXCLUDED.department,
               priority = EXCLUDED.priority, channel = EXCLUDED.channel, policy = EXCLUDED.policy,
               started_at = EXCLUDED.started_at, target_s = EXCLUDED.target_s, elapsed_s = EXCLUDED.elapsed_s,
               resumed_at = EXCLUDED.resumed_at,
               last_change_at = EXCLUDED.last_change_at, due_at = EXCLUDED.due_at,
               breach_at = coalesce(EXCLUDED.breach_at, sla_timers.breach_at),
               steps = {"sla_timers.steps" if keep_steps else "EXCLUDED.steps"},
               state = EXCLUDED.state, stopped_at = EXCLUDED.stopped_at, outcome = EXCLUDED.outcome,
               latency_s = EXCLUDED.latency_s, updated_at = now()"""
