"""Topic names, event types and the topic specs `heatdesk topics` creates.

Names are versioned: a breaking change of an event gets a new topic version, never an
edit of the old one.
"""

from __future__ import annotations

import dataclasses

MENTIONS_RAW = "mentions.raw.v1"
MENTIONS_CLASSIFIED = "mentions.classified.v1"
RESPONSES = "responses.v1"
CASE_EVENTS = "cases.events.v1"
SLA_ALERTS = "sla.alerts.v1"
DEADLETTER = "deadletter.v1"

#: The classifier's departments. Routing rules may add more (the shipped rules add legal and
#: sales); every department has its own case topic `cases.<department>.v1`.
DEPARTMENTS = ("billing", "product", "pr", "support")
RULE_DEPARTMENTS = ("legal", "sales")


def department_topic(department: str) -> str:
    return f"cases.{department}.v1"


class EventType:
    """CloudEvents `type` values, reverse-DNS and versioned."""

    MENTION_RECEIVED = "com.heatdesk.mention.received.v1"
    MENTION_CLASSIFIED = "com.heatdesk.mention.classified.v1"
    RESPONSE_RECORDED = "com.heatdesk.response.recorded.v1"
    CASE_ROUTED = "com.heatdesk.case.routed.v1"
    CASE_OPENED = "com.heatdesk.case.opened.v1"
    CASE_MENTION_ADDED = "com.heatdesk.case.mention_added.v1"
    CASE_ESCALATED = "com.heatdesk.case.escalated.v1"
    CASE_RESPONDED = "com.heatdesk.case.responded.v1"
    CASE_RESOLVED = "com.heatdesk.case.resolved.v1"
    CASE_REOPENED = "com.heatdesk.case.reopened.v1"
    CASE_ASSIGNED = "com.heatdesk.case.assigned.v1"
    SLA_BREACHED = "com.heatdesk.sla.breached.v1"
    DEADLETTERED = "com.heatdesk.deadletter.v1"


@dataclasses.dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str]
    why: str


_WEEK_MS = str(7 * 24 * 3600 * 1000)
_MONTH_MS = str(30 * 24 * 3600 * 1000)


def all_topics(departments: tuple[str, ...] = DEPARTMENTS + RULE_DEPARTMENTS) -> list[TopicSpec]:
    """Every topic Heatdesk reads or writes, with retention chosen per purpose.

    `departments` should be those of the routing rules in force (`heatdesk topics` reads them).
    """
    specs = [
        TopicSpec(MENTIONS_RAW, {"retention.ms": _WEEK_MS}, "replayable input; keyed by conversation"),
        TopicSpec(MENTIONS_CLASSIFIED, {"retention.ms": _WEEK_MS}, "classified mentions; keyed by conversation"),
        TopicSpec(RESPONSES, {"retention.ms": _WEEK_MS}, "agent replies and resolutions"),
        TopicSpec(CASE_EVENTS, {"retention.ms": _MONTH_MS}, "case lifecycle; keyed by case id"),
        TopicSpec(SLA_ALERTS, {"retention.ms": _MONTH_MS}, "SLA warnings and breaches; keyed by case id"),
        TopicSpec(DEADLETTER, {"retention.ms": _MONTH_MS}, "poison records with reason and stage"),
    ]
    specs += [TopicSpec(department_topic(d), {"retention.ms": _MONTH_MS}, f"{d} cases; keyed by case id")
              for d in departments]
    return specs
