"""Where a customer's new post goes: pure threading decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.route.state import CaseState, ThreadingPolicy, choose_case, raise_priority

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
POLICY = ThreadingPolicy(window=timedelta(hours=72), reopen_window=timedelta(days=7))


def case(id: str, status: str = "open", last: timedelta = timedelta(0), resolved: timedelta | None = None,
         priority: str = "normal") -> CaseState:
    return CaseState(id=id, status=status, department="billing", departments=["billing"], priority=priority,
                     priority_score=40, channel="x", author_id=1, person_id=1, conversation_key="x:1",
                     sla_policy="default", opened_at=T0 + last, last_mention_at=T0 + last, first_response_due_at=None,
                     resolved_at=T0 + resolved if resolved is not None else None)


def test_reply_chain_wins_over_recency():
    older, newer = case("a"), case("b", last=timedelta(hours=1))
    assert choose_case(by_reference=older, person_cases=[older, newer], created_at=T0 + timedelta(hours=2),
                       is_complaint=False, policy=POLICY) == ("add", older)


def test_same_customer_within_window_joins_most_recent_open_case():
    a, b = case("a"), case("b", last=timedelta(hours=5))
    assert choose_case(by_reference=None, person_cases=[a, b], created_at=T0 + timedelta(hours=6),
                       is_complaint=True, policy=POLICY) == ("add", b)


def test_outside_window_opens_a_new_case():
    a = case("a")
    assert choose_case(by_reference=None, person_cases=[a], created_at=T0 + timedelta(hours=73), is_complaint=True,
                       policy=POLICY) == ("open", None)


def test_complaint_after_resolution_reopens_within_window_only_and_only_when_on():
    done = case("a", status="resolved", resolved=timedelta(hours=1))
    soon = T0 + timedelta(days=2)
    assert choose_case(by_reference=None, person_cases=[done], created_at=soon, is_complaint=True,
                       policy=POLICY) == ("reopen", done)
    assert choose_case(by_reference=None, person_cases=[done], created_at=soon, is_complaint=False,
                       policy=POLICY) == ("open", None)  # praise after resolution is a new conversation
    assert choose_case(by_reference=None, person_cases=[done], created_at=T0 + timedelta(days=9), is_complaint=True,
                       policy=POLICY) == ("open", None)
    off = ThreadingPolicy(window=POLICY.window, reopen_window=POLICY.reopen_window, reopen=False)
    assert choose_case(by_reference=done, person_cases=[done], created_at=soon, is_complaint=True,
                       policy=off) == ("open", None)


def test_priority_only_rises():
    c = case("a", priority="high")
    assert raise_priority(c, "normal", 90) is False and c.priority == "high" and c.priority_score == 90
    assert raise_priority(c, "critical", 10) is True and c.priority == "critical" and c.priority_score == 90


def test_a_window_of_zero_threads_by_reference_only():
    a = case("a")
    off = ThreadingPolicy(window=timedelta(0), reopen_window=timedelta(days=7))
    assert choose_case(by_reference=None, person_cases=[a], created_at=T0, is_complaint=True,
                       policy=off) == ("open", None)
    assert choose_case(by_reference=a, person_cases=[a], created_at=T0, is_complaint=True, policy=off) == ("add", a)


def test_a_post_written_long_before_a_case_opened_does_not_join_it_for_arriving_late():
    a = case("a", last=timedelta(days=10))  # opened and last written ten days after T0
    assert choose_case(by_reference=None, person_cases=[a], created_at=T0, is_complaint=True,
                       policy=POLICY) == ("open", None)
    assert choose_case(by_reference=None, person_cases=[a], created_at=T0 + timedelta(days=8), is_complaint=True,
                       policy=POLICY) == ("add", a)  # within the window before it opened
