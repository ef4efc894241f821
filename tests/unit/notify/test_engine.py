"""The per-case SLA state machine: clocks start, stop, pause, resume, retarget and recycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.slapolicy import load_policies
from services.common.timeutil import format_rfc3339
from services.common.topics import EventType
from services.notify.engine import Armed, CaseSla, Ended, Engine

DATA = Path(__file__).resolve().parents[2] / "data" / "sla"
FRI_4PM = datetime(2026, 1, 30, 16, 0, tzinfo=UTC)  # London office: one business hour left on Friday
CASE_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def case(**changes: Any) -> dict[str, Any]:
    base = {"id": CASE_ID, "status": "open", "department": "billing", "priority": "high", "priority_score": 70,
            "channel": "email", "sla_policy": "office", "opened_at": format_rfc3339(FRI_4PM),
            "last_mention_at": format_rfc3339(FRI_4PM), "first_response_due_at": None, "mention_count": 1,
            "tags": [], "public": False, "author": {"id": "c1", "followers": 1, "verified": False}}
    return {**base, **changes}


def event(at: datetime, response: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"case": case(**changes), "occurred_at": format_rfc3339(at)}
    if response is not None:
        data["response"] = response
    return data


def reply(at: datetime, automated: bool = False, first: bool = False, kind: str = "reply") -> dict[str, Any]:
    return {"id": "5b1f8e64-0d9f-4b8e-9c61-1f3c1f1d2a10", "kind": kind, "automated": automated, "public": True,
            "created_at": format_rfc3339(at), "first": first}


@pytest.fixture
def engine() -> Engine:
    return Engine(load_policies(DATA / "office.yaml"))


def opened(engine: Engine, **changes: Any) -> CaseSla:
    state, effects = engine.apply(None, EventType.CASE_OPENED, event(FRI_4PM, **changes))
    assert state is not None
    return state


def ended(effects: list) -> list[tuple[str, int, str, float]]:
    return [(e.clock.kind, e.clock.cycle, e.outcome, e.elapsed_s) for e in effects if isinstance(e, Ended)]


def test_opened_arms_first_response_and_resolution_on_the_calendar(engine):
    state, effects = engine.apply(None, EventType.CASE_OPENED, event(FRI_4PM))
    armed = {e.clock.kind: e for e in effects if isinstance(e, Armed)}
    assert set(armed) == {"first_response", "resolution"} and all(e.new for e in armed.values())
    fr = armed["first_response"]
    assert fr.clock.target_s == 7200 and fr.breach_at == datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    assert [(s.name, t) for s, t in zip(fr.steps, fr.times, strict=True)] == [
        ("reassign_idle", datetime(2026, 1, 30, 16, 30, tzinfo=UTC)),  # 30 min without a reply (high priority)
        ("warn_50", datetime(2026, 1, 30, 17, 0, tzinfo=UTC)),
        ("remind_15m", datetime(2026, 2, 2, 9, 45, tzinfo=UTC)),  # across the weekend
        ("breach", datetime(2026, 2, 2, 10, 0, tzinfo=UTC)),
        ("head_of_department", datetime(2026, 2, 2, 12, 0, tzinfo=UTC)),
    ]
    assert state.policy == "office" and state.status == "open"


def test_routes_deadline_of_record_sets_the_first_response_target(engine):
    due = datetime(2026, 2, 2, 9, 30, tzinfo=UTC)  # route stamped 1.5 business hours
    _, effects = engine.apply(None, EventType.CASE_OPENED, event(FRI_4PM, first_response_due_at=format_rfc3339(due)))
    fr = next(e for e in effects if isinstance(e, Armed) and e.clock.kind == "first_response")
    assert fr.clock.target_s == 5400 and fr.breach_at == due


def test_human_reply_stops_the_clock_in_business_time_and_bots_change_nothing(engine):
    state = opened(engine)
    monday_930 = datetime(2026, 2, 2, 9, 30, tzinfo=UTC)
    bot = reply(FRI_4PM + timedelta(seconds=5), automated=True)
    state, effects = engine.apply(state, EventType.CASE_RESPONDED, event(FRI_4PM + timedelta(seconds=5), bot,
                                                                       status="pending"))
    assert effects == [] and "response" in state.clocks and state.status == "open"
    state, effects = engine.apply(state, EventType.CASE_RESPONDED, event(monday_930, reply(monday_930, first=True),
                                                                       status="pending"))
    assert ended(effects) == [("first_response", 0, "met", 5400.0)]  # Fri 1 h + Mon 30 min, not 65.5 wall hours
    assert state.first_responded and state.status == "pending"
    paused = next(e for e in effects if isinstance(e, Armed) and e.clock.kind == "resolution")
    assert not paused.clock.running and paused.breach_at is None
    autoclose = next(e for e in effects if isinstance(e, Armed) and e.clock.kind == "autoclose")
    assert autoclose.new and autoclose.breach_at == monday_930 + timedelta(days=3)


def test_follow_up_after_the_brand_spoke_starts_next_response_and_resumes(engine):
    state = opened(engine)
    monday_10 = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    state, _ = engine.apply(state, EventType.CASE_RESPONDED, event(monday_10, reply(monday_10, first=True),
                                                                 status="pending"))
    tuesday_11 = datetime(2026, 2, 3, 11, 0, tzinfo=UTC)
    state, effects = engine.apply(state, EventType.CASE_MENTION_ADDED, event(tuesday_11, status="open"))
    assert ended(effects) == [("autoclose", 0, "cancelled", pytest.approx(25 * 3600))]
    started = {e.clock.kind: e for e in effects if isinstance(e, Armed)}
    assert started["resolution"].clock.running and not started["resolution"].new
    nr = started["next_response"]
    assert nr.new and nr.clock.cycle == 0 and nr.clock.started_at == tuesday_11
    assert nr.breach_at == datetime(2026, 2, 3, 13, 0, tzinfo=UTC)
    # A second follow-up while the brand still owes an answer does not restart the clock.
    state, effects = engine.apply(state, EventType.CASE_MENTION_ADDED, event(tuesday_11 + timedelta(minutes=20)))
    assert effects == []
    wed = datetime(2026, 2, 4, 9, 30, tzinfo=UTC)
    state, effects = engine.apply(state, EventType.CASE_RESPONDED, event(wed, reply(wed), status="pending"))
    assert ended(effects) == [("next_response", 0, "breached", 6.5 * 3600)]  # Tue 11-17 + Wed 9-9:30


def test_follow_up_before_any_answer_keeps_the_first_response_clock(engine):
    state = opened(engine)
    state, effects = engine.apply(state, EventType.CASE_MENTION_ADDED, event(FRI_4PM + timedelta(minutes=10)))
    assert effects == [] and state.clocks["response"].kind == "first_response"


def test_resolution_excludes_the_time_waiting_on_the_customer(engine):
    state = opened(engine)
    t1 = FRI_4PM + timedelta(minutes=30)
    state, _ = engine.apply(state, EventType.CASE_RESPONDED, event(t1, reply(t1, first=True), status="pending"))
    t2 = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
    state, _ = engine.apply(state, EventType.CASE_MENTION_ADDED, event(t2))
    t3 = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
    state, effects = engine.apply(state, EventType.CASE_RESOLVED, event(t3, reply(t3, kind="resolution"),
                                                                      status="resolved"))
    assert sorted(ended(effects)) == [("next_response", 0, "met", 3600.0), ("resolution", 0, "met", 5400.0)]
    assert state.status == "resolved" and state.clocks == {}
    state, effects = engine.apply(state, EventType.CASE_MENTION_ADDED, event(t3 + timedelta(hours=1)))
    assert effects == []  # a resolved case waits for route's reopen


def test_a_resolution_that_is_the_first_answer_counts_as_first_response(engine):
    state = opened(engine)
    t = FRI_4PM + timedelta(minutes=45)
    state, effects = engine.apply(state, EventType.CASE_RESOLVED, event(t, reply(t, kind="resolution", first=True),
                                                                      status="resolved"))
    assert sorted(ended(effects)) == [("first_response", 0, "met", 2700.0), ("resolution", 0, "met", 2700.0)]


def test_automated_resolution_does_not_count_as_a_response(engine):
    state = opened(engine)
    t = FRI_4PM + timedelta(minutes=45)
    state, effects = engine.apply(state, EventType.CASE_RESOLVED, event(t, reply(t, automated=True, kind="resolution"),
                                                                      status="resolved"))
    assert sorted(ended(effects)) == [("first_response", 0, "cancelled", 2700.0), ("resolution", 0, "met", 2700.0)]
    assert not state.first_responded


def test_reopen_starts_new_cycles_and_keeps_old_figures(engine):
    state = opened(engine)
    t1 = FRI_4PM + timedelta(minutes=20)
    state, first = engine.apply(state, EventType.CASE_RESPONDED, event(t1, reply(t1, first=True), status="pending"))
    state, resolved = engine.apply(state, EventType.CASE_RESOLVED, event(t1 + timedelta(minutes=5), status="resolved"))
    assert ("resolution", 0, "met", 1200.0) in ended(resolved)
    t2 = datetime(2026, 2, 2, 11, 0, tzinfo=UTC)
    state, effects = engine.apply(state, EventType.CASE_REOPENED, event(t2, status="open", reopened_count=1))
    started = sorted((e.clock.kind, e.clock.cycle, e.clock.started_at) for e in effects if isinstance(e, Armed))
    assert started == [("next_response", 0, t2), ("resolution", 1, t2)]
    assert ended(first) == [("first_response", 0, "met", 1200.0)]  # untouched by the reopen


def test_priority_change_retargets_running_clocks_keeping_time_spent(engine):
    state = opened(engine)
    t = FRI_4PM + timedelta(minutes=20)
    state, effects = engine.apply(state, EventType.CASE_ESCALATED, event(t, priority="critical", public=True))
    fr = next(e for e in effects if isinstance(e, Armed) and e.clock.kind == "first_response")
    assert fr.clock.target_s == 3600 and not fr.new
    assert fr.breach_at == datetime(2026, 1, 30, 17, 0, tzinfo=UTC)
    breach = next(s for s in fr.steps if s.name == "breach")
    assert breach.notify == ("team_lead", "pr")  # critical and public now: PR is in the chain


def test_assignment_changes_no_clock(engine):
    state = opened(engine)
    state, effects = engine.apply(state, "com.heatdesk.case.assigned.v1", event(FRI_4PM + timedelta(minutes=5),
                                                                               assignee="agent-7"))
    assert effects == [] and state.clocks["response"].running


def test_pending_escalation_without_a_reply_pauses(engine):
    state = opened(engine)
    state, effects = engine.apply(state, EventType.CASE_ESCALATED, event(FRI_4PM + timedelta(minutes=10),
                                                                        status="pending"))
    assert state.status == "pending" and not state.clocks["response"].running


def test_a_case_first_seen_mid_life_is_rebuilt_from_its_snapshot(engine):
    t = FRI_4PM + timedelta(minutes=40)
    snapshot = {"first_response_at": format_rfc3339(t), "status": "pending"}
    state, effects = engine.apply(None, EventType.CASE_RESPONDED, event(t, reply(t, first=True), **snapshot))
    assert ended(effects) == [("first_response", 0, "met", 2400.0)]
    assert state is not None and state.first_responded and state.status == "pending"


def test_malformed_events_raise():
    engine = Engine(load_policies())
    with pytest.raises(KeyError):
        engine.apply(None, EventType.CASE_OPENED, {"case": {"id": CASE_ID}, "occurred_at": "2026-01-01T00:00:00Z"})
    with pytest.raises(ValueError):
        engine.apply(None, EventType.CASE_OPENED, event(FRI_4PM) | {"occurred_at": "yesterday"})


def corrections(effects: list) -> list[tuple[str, str, float, datetime]]:
    return [(e.clock.kind, e.outcome, e.elapsed_s, e.clock.started_at) for e in effects
            if isinstance(e, Ended) and e.corrects]


def test_an_earlier_reply_arriving_late_re_measures_the_first_response(engine):
    state = opened(engine)
    monday_11 = datetime(2026, 2, 2, 11, 0, tzinfo=UTC)  # 3 business hours: breached (2 h target)
    friday_1630 = FRI_4PM + timedelta(minutes=30)  # the brand's real first answer, delivered last
    state, effects = engine.apply(state, EventType.CASE_RESPONDED, event(monday_11, reply(monday_11, first=True),
                                                                       status="pending"))
    assert ended(effects) == [("first_response", 0, "breached", 10800.0)]
    state, effects = engine.apply(state, EventType.CASE_RESPONDED,
                                  event(friday_1630, reply(friday_1630, first=True), status="pending"))
    assert corrections(effects) == [("first_response", "met", 1800.0, FRI_4PM)]
    later = monday_11 + timedelta(hours=1)  # a reply later than the one measured moves nothing
    _, effects = engine.apply(state, EventType.CASE_RESPONDED, event(later, reply(later), status="pending"))
    assert corrections(effects) == []


def test_an_earlier_first_post_arriving_late_moves_the_clocks_start(engine):
    friday_5pm = FRI_4PM + timedelta(hours=1)  # after office hours: the post that arrived first
    state = opened(engine, opened_at=format_rfc3339(friday_5pm))
    monday_930 = datetime(2026, 2, 2, 9, 30, tzinfo=UTC)
    earlier = event(FRI_4PM, opened_at=format_rfc3339(FRI_4PM), mention_count=2)
    state, effects = engine.apply(state, EventType.CASE_MENTION_ADDED, earlier)  # the running clock
    first = state.clocks["response"]
    assert first.started_at == FRI_4PM and first.elapsed(monday_930, engine.calendar(state, first)) == 5400
    assert state.opened_at == FRI_4PM
    state, effects = engine.apply(state, EventType.CASE_RESPONDED,
                                  event(monday_930, reply(monday_930, first=True), status="pending",
                                        opened_at=format_rfc3339(FRI_4PM)))
    assert ended(effects) == [("first_response", 0, "met", 5400.0)]


def test_an_earlier_first_post_after_the_answer_re_measures_it(engine):
    friday_5pm = FRI_4PM + timedelta(hours=1)
    state = opened(engine, opened_at=format_rfc3339(friday_5pm))
    monday_10 = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    state, effects = engine.apply(state, EventType.CASE_RESPONDED, event(
        monday_10, reply(monday_10, first=True), status="pending", opened_at=format_rfc3339(friday_5pm)))
    assert ended(effects) == [("first_response", 0, "met", 3600.0)]
    state, effects = engine.apply(state, EventType.CASE_MENTION_ADDED, event(
        FRI_4PM, status="pending", opened_at=format_rfc3339(FRI_4PM), mention_count=2))
    assert corrections(effects) == [("first_response", "met", 7200.0, FRI_4PM)]
    # Older than the brand's reply: it owes no next response, and the case still waits on the customer.
    assert state.status == "pending" and state.clocks.get("response") is None
