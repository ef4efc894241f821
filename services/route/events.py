"""The events route publishes, built from a case's state after a change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common import pii
from services.common.authors import followers_of
from services.common.envelope import Event
from services.common.timeutil import format_rfc3339
from services.common.topics import CASE_EVENTS, EventType, department_topic
from services.route.state import CaseState

SOURCE = "heatdesk/route"


def _ts(value: datetime | None) -> str | None:
    return format_rfc3339(value) if value is not None else None


def snapshot(case: CaseState, author: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": case.id, "status": case.status, "department": case.department, "departments": list(case.departments),
        "priority": case.priority, "priority_score": case.priority_score, "channel": case.channel,
        "sla_policy": case.sla_policy, "opened_at": _ts(case.opened_at), "last_mention_at": _ts(case.last_mention_at),
        "first_response_due_at": _ts(case.first_response_due_at), "first_response_at": _ts(case.first_response_at),
        "last_response_at": _ts(case.last_response_at), "resolved_at": _ts(case.resolved_at),
        "mention_count": case.mention_count, "reopened_count": case.reopened_count, "tags": list(case.tags),
        "flags": list(case.flags), "public": case.public, "assignee": case.assignee,
        "repeat_author": {"cases": case.repeat_cases, "complaints": case.repeat_complaints},
        "author": {"id": str(author.get("id")), "handle": author.get("handle"), "name": author.get("name"),
                   "followers": int(author.get("followers") or 0),
                   "followers_known": followers_of(author) is not None, "verified": bool(author.get("verified"))},
    }


def lifecycle(event_type: str, case: CaseState, author: dict[str, Any], occurred_at: datetime,
              snap: dict[str, Any] | None = None, **extra: Any) -> tuple[str, Event]:
    """`snap`: the case's snapshot when the caller already built it for this state (a routed
    mention announces the same state up to three times; building it once saves a third of
    route's timestamp formatting)."""
    data = {"case": snap or snapshot(case, author), "occurred_at": format_rfc3339(occurred_at), **extra}
    return CASE_EVENTS, Event(type=event_type, source=SOURCE, key=case.id, subject=case.id, data=data)


def routed(change: str, case: CaseState, author: dict[str, Any], mention: dict[str, Any],
           classification: dict[str, Any], departments: list[str],
           snap: dict[str, Any] | None = None) -> list[tuple[str, Event]]:
    """One record per department that holds the case (owner first).

    What leaves for the departments carries no raw payload (it stays in the database until
    the retention job empties it) and no card number, email address or phone number in the
    mention's text and subject or in the entities the classifier found, unless
    `HEATDESK_PII_ALLOW` allows that kind (see services/common/pii.py).
    """
    allow = pii.allowed()
    outgoing = {**mention, "raw": None, "text": pii.mask(mention["text"], allow)}
    if isinstance(mention.get("subject"), str):
        outgoing["subject"] = pii.mask(mention["subject"], allow)
    if classification.get("entities"):
        classification = {**classification, "entities": pii.mask_value(classification["entities"], allow)}
    data = {"change": change, "case": snap or snapshot(case, author), "mention": outgoing,
            "classification": classification}
    return [(department_topic(d), Event(type=EventType.CASE_ROUTED, source=SOURCE, key=case.id, subject=case.id,
                                        data=data)) for d in departments]
