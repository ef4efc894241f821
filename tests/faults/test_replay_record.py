"""The system of record matches the file, in any arrival order and under redelivery (issue 19).

The Customer Support on Twitter subset (2,778 customer tweets, 2,201 brand replies) is replayed
through the four services as processes - real broker, real PostgreSQL - shuffled (a fixed
seed: replies reach route before the posts they answer, late earlier replies, late earlier
posts) and unshuffled, twice each, and once more with route killed -9 twice mid-stream. After
each, the database is compared with what the file says (`replay_truth`) and notify's SLA
figures with `heatdesk sla backtest` on the same file and policy.

Route threads by conversation only here (`HEATDESK_ROUTE_THREAD_WINDOW_S=0`) and the policy
has no auto-close, because both are decided by the state at arrival (is the customer's other
case still open; was the case closed before they wrote again), which is what the backtest
cannot know; every other rule is the shipped one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.common.metrics import RESPONSE_BUCKETS
from services.common.slapolicy import load_policies
from services.ingest.replay import replay
from services.ingest.replay_sources import read_items
from services.notify.backtest import CASE_NAMESPACE, backtest
from tests.faults.replay_truth import compare, truth
from tests.support import parse_metrics

TWCS = Path(__file__).resolve().parents[3] / "shared" / "data" / "twcs_subset.csv"
pytestmark = pytest.mark.skipif(not TWCS.is_file(), reason="needs ../shared/data/twcs_subset.csv")

POLICY = """\
version: 1
calendars:
  always: {hours: 24/7}
policies:
  - name: default
    calendar: always
    targets:
      first_response: 4h
      next_response: 8h
      resolution: 7d
    breach: {notify: []}
"""
SETTLE_S = 12.0
ENV = {"HEATDESK_ROUTE_THREAD_WINDOW_S": "0", "HEATDESK_NOTIFY_CLOCK": "event",
       "HEATDESK_NOTIFY_MEASURE_SETTLE_S": str(SETTLE_S),
       "HEATDESK_SLA_FIRST_RESPONSE_TARGETS": "critical=14400,high=14400,normal=14400,low=14400"}


async def _drain(stack: Any, mentions: int, responses: int, timeout: float = 300.0) -> None:
    """Until every post and reply is in the database, route's outbox is empty and notify has
    seen every case event route committed."""
    conn = await stack.db()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            row = await conn.fetchrow(
                """SELECT (SELECT count(*) FROM mentions) AS m, (SELECT count(*) FROM responses) AS r,
                          (SELECT count(*) FROM outbox) AS o, (SELECT count(*) FROM case_events) AS e,
                          (SELECT count(*) FROM notify_events_seen) AS s""")
            if row["m"] >= mentions and row["r"] >= responses and row["o"] == 0 and row["s"] >= row["e"]:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not drained: {dict(row)}\n{stack.logs()}")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def _histogram(stack: Any) -> dict[float, float]:
    """notify's scraped first-response histogram, summed over its labels: le → count."""
    (proc,) = stack.live("notify")
    _, text = await proc.get("/metrics")
    buckets: Counter[float] = Counter()
    for (name, labels), value in parse_metrics(text).items():
        if name == "heatdesk_first_response_seconds_bucket":
            buckets[float(dict(labels)["le"])] += value
    return dict(buckets)


def _expected_histogram(seconds: list[float]) -> dict[float, float]:
    edges = [float(b) for b in RESPONSE_BUCKETS] + [float("inf")]
    return {edge: float(sum(s <= edge for s in seconds)) for edge in edges}


async def _replay_and_check(stack: Any, tmp_path: Path, passes: list[int | None], kill_route: int = 0) -> dict:
    items = read_items(TWCS)
    expected = truth(items)
    policy_file = tmp_path / "policy.yaml"
    offline = backtest(items, load_policies(policy_file), "default")
    mentions = sum(i.kind == "mention" for i in items)
    responses = sum(i.kind == "response" for i in items)
    ingest = stack.live("ingest")[0]
    for seed in passes:
        run = asyncio.create_task(replay(TWCS, target=ingest.url(""), shuffle=seed, progress=False))
        for _ in range(kill_route):
            await asyncio.sleep(2.0)
            route = stack.one("route")
            route.kill()
            await stack.restart(route).wait_ready()
        summary = await run
        print(f"replay (shuffle={seed}, route kills={kill_route}):\n{summary.render()}")
        assert summary.outcome["rejected"] == summary.outcome["failed"] == 0, summary.render()
        await _drain(stack, mentions, responses)
    conn = await stack.db()
    try:
        report = await compare(conn, expected)
    finally:
        await conn.close()
    await asyncio.sleep(SETTLE_S + 2.0)  # what the clocks measured is counted once it settled
    live = await _histogram(stack)
    conn = await stack.db()
    try:  # notify's first-response clock of every case, against the case route holds
        clocks = await conn.fetch("""SELECT c.id::text AS case_id, c.opened_at, c.first_response_at, t.started_at,
                                            t.stopped_at, t.outcome
                                       FROM cases c LEFT JOIN sla_timers t
                                         ON t.case_id = c.id AND t.kind = 'first_response' AND t.cycle = 0""")
    finally:
        await conn.close()
    return {"report": report, "live": live, "clocks": clocks, "offline": _expected_histogram(list(offline.first_response.values())),
            "backtest": offline}


@pytest.fixture
def policy_env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return {**ENV, "HEATDESK_SLA_POLICIES_PATH": str(path)}


def _notify_agrees(result: dict) -> None:
    """notify's first-response clock of every case starts at its first post and stops at its
    first reply (event time), met or breached as in the backtest; the scraped histogram is the
    backtest's, bucket by bucket."""
    report, offline = result["report"], result["backtest"]
    assert [c for c in result["clocks"] if c["started_at"] != c["opened_at"]] == []
    assert [c for c in result["clocks"] if c["stopped_at"] != c["first_response_at"]] == []
    # The backtest names a case after its conversation (the thread's root tweet).
    offline_case = {conv: str(uuid.uuid5(CASE_NAMESPACE, f"x:{conv}")) for conv in report.case_of_conversation}
    assert set(offline_case.values()) == set(offline.outcomes)
    live = {c["case_id"]: c["outcome"] for c in result["clocks"]}
    assert {live_id: live[live_id] for live_id in report.case_of_conversation.values()} == {
        report.case_of_conversation[conv]: offline.outcomes[case_id] for conv, case_id in offline_case.items()}
    print(f"{'le (s)':>8} {'notify /metrics':>16} {'sla backtest':>13}")
    for le, count in sorted(result["offline"].items()):
        print(f"{le:>8} {result['live'].get(le, 0):>16.0f} {count:>13.0f}")
    outcomes = Counter(offline.outcomes.values())
    print(f"cases {report.cases} (backtest {offline.cases}); first response met {outcomes['met']}, "
          f"breached {outcomes['breached']} in both")
    assert result["live"] == result["offline"]
    assert result["live"][float("inf")] == offline.responded


async def test_replay_in_order_and_shuffled_twice_each_matches_the_file(fault_stack, policy_env, tmp_path,
                                                                        fault_report):
    stack = await fault_stack(env=policy_env)
    await stack.start()
    first = await _replay_and_check(stack, tmp_path, [None])
    problems = first["report"].problems()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
    assert first["report"].cases == first["backtest"].cases == len(first["report"].case_of_conversation)
    _notify_agrees(first)
    again = await _replay_and_check(stack, tmp_path, [20261207, None, 20261207])
    problems = again["report"].problems()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
    assert again["live"] == first["live"]  # three more replays of the same file changed nothing
    fault_report(fault="TWCS replay in order, then shuffled / in order / shuffled", sent=4 * 4979, lost=0,
                 duplicated=0, recovery_s="", note=f"{first['report'].cases} cases, every reply once, SLA = backtest")


async def test_replay_shuffled_with_route_killed_twice_matches_the_file(fault_stack, policy_env, tmp_path,
                                                                        fault_report):
    stack = await fault_stack(env=policy_env)
    await stack.start()
    result = await _replay_and_check(stack, tmp_path, [20261207], kill_route=2)
    problems = result["report"].problems()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
    _notify_agrees(result)
    fault_report(fault="shuffled TWCS replay, route kill -9 x2", sent=4979, lost=0, duplicated=0, recovery_s="",
                 note=f"{result['report'].cases} cases, every reply once, SLA = backtest")
