"""Cases as the router sees them while it threads a batch: plain data and pure decisions.

The batch loads the candidate cases once, decides in memory (so a mention can join a case
opened earlier in the same batch), and writes every change back in a few statements.
Nothing here touches the database, so the threading rules are unit-tested directly.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta
from typing import Any

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}


@dataclasses.dataclass
class CaseState:
    id: str
    status: str
    department: str
    departments: list[str]
    priority: str
    priority_score: int
    channel: str
    author_id: int
    person_id: int
    conversation_key: str
    sla_policy: str
    opened_at: datetime
    last_mention_at: datetime
    first_response_due_at: datetime | None
    first_response_at: datetime | None = None
    last_response_at: datetime | None = None
    resolved_at: datetime | None = None
    mention_count: int = 0
    complaint_count: int = 0
    reopened_count: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)
    flags: list[str] = dataclasses.field(default_factory=list)
    repeat_cases: int = 0
    repeat_complaints: int = 0
    public: bool = True
    assignee: str | None = None
    is_new: bool = False
    changed: bool = False

    @classmethod
    def from_row(cls, row: Any) -> CaseState:
        """A case from a `cases` row (columns the row lacks keep their defaults).

        The stored columns are looked up once per row's shape, not once per field and row: route
        loads every candidate case of a batch (a few hundred) through here."""
        kwargs = {name: row[name] for name in _stored_columns(tuple(row.keys()))}
        kwargs.update(id=str(row["id"]), departments=list(row["departments"]), tags=list(row["tags"]),
                      flags=list(row["flags"]))
        return cls(**kwargs)


@functools.cache
def _stored_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The CaseState fields among a row's columns (never the in-memory flags)."""
    return tuple(f.name for f in dataclasses.fields(CaseState) if f.name in columns and f.name not in ("is_new", "changed"))


@dataclasses.dataclass(frozen=True)
class ThreadingPolicy:
    window: timedelta  # same customer, any channel, within this of their last post: same case
    reopen_window: timedelta  # a complaint this soon after resolution reopens instead of opening anew
    reopen: bool = True


def choose_case(*, by_reference: CaseState | None, person_cases: list[CaseState], created_at: datetime,
                is_complaint: bool, policy: ThreadingPolicy) -> tuple[str, CaseState | None]:
    """("add" | "reopen" | "open", case): where a customer's new post goes.

    1. The case of the post it replies to, or of its conversation (if still open).
    2. Else the customer's most recent open case, if they last wrote within the window
       (a window of 0 turns this off: threads follow replies and conversations only).
    3. A complaint soon after a resolution reopens that case (when reopening is on).
    4. Else a new case.
    """
    if by_reference is not None:
        if by_reference.status != "resolved":
            return "add", by_reference
        if is_complaint and policy.reopen and _recently_resolved(by_reference, created_at, policy):
            return "reopen", by_reference
    for case in sorted(person_cases, key=lambda c: c.last_mention_at, reverse=True):
        if policy.window and case.status != "resolved" and _within(case, created_at, policy.window):
            return "add", case
    if is_complaint and policy.reopen:
        for case in sorted(person_cases, key=lambda c: c.resolved_at or c.last_mention_at, reverse=True):
            if case.status == "resolved" and _recently_resolved(case, created_at, policy):
                return "reopen", case
    return "open", None


def _within(case: CaseState, at: datetime, window: timedelta) -> bool:
    """`at` falls within `window` of the case's span of posts (either side: a post written
    before the case opened can arrive after it, and must not join it just for arriving late)."""
    return case.opened_at - window <= at <= case.last_mention_at + window


def _recently_resolved(case: CaseState, at: datetime, policy: ThreadingPolicy) -> bool:
    return case.resolved_at is not None and at - case.resolved_at <= policy.reopen_window


def raise_priority(case: CaseState, priority: str, score: int) -> bool:
    """Priorities only go up while a case is open; True when it rose."""
    case.priority_score = max(case.priority_score, score)
    if PRIORITY_RANK[priority] > PRIORITY_RANK[case.priority]:
        case.priority = priority
        return True
    return False
