"""The AsyncAPI 3 document of every Heatdesk topic, generated from the code.

Topics, keys and retention come from `topics.py`, payloads from the published JSON
Schemas, headers from the CloudEvents binding in `envelope.py`: the document is
generated, committed as `docs/asyncapi.yaml`, and a test regenerates it and fails on any
difference, so the contract cannot drift from the code. `heatdesk asyncapi` prints it.
"""

from __future__ import annotations

from typing import Any

from services.common.schemas import SCHEMA_FILES
from services.common.topics import CASE_EVENTS, DEADLETTER, MENTIONS_CLASSIFIED, MENTIONS_RAW, RESPONSES, SLA_ALERTS, EventType, all_topics

VERSION = "1.0.0"

#: topic → (key, ordering guarantee, producers, consumers, event types)
TOPIC_FACTS: dict[str, tuple[str, str, list[str], list[str], list[str]]] = {
    MENTIONS_RAW: ("conversation key `channel:author_id`", "per customer: one customer's posts in order",
                   ["ingest"], ["classify"], [EventType.MENTION_RECEIVED]),
    MENTIONS_CLASSIFIED: ("conversation key `channel:author_id`", "per customer", ["classify"], ["route"],
                          [EventType.MENTION_CLASSIFIED]),
    RESPONSES: ("`channel:customer_id` when known, else a case or reply reference", "per customer when known",
                ["ingest"], ["route"], [EventType.RESPONSE_RECORDED]),
    CASE_EVENTS: ("case id", "per case: a case's events in the order they happened", ["route"], ["notify"],
                  [EventType.CASE_OPENED, EventType.CASE_MENTION_ADDED, EventType.CASE_ESCALATED,
                   EventType.CASE_RESPONDED, EventType.CASE_RESOLVED, EventType.CASE_REOPENED,
                   EventType.CASE_ASSIGNED]),
    SLA_ALERTS: ("case id", "per case", ["notify"], [], [EventType.SLA_BREACHED]),
    DEADLETTER: ("the original record's key", "none", ["classify", "route", "notify"], [], [EventType.DEADLETTERED]),
}

CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary content mode: attributes as headers, data as the value.",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique per event; redeliveries keep it: deduplicate on it"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string", "examples": ["heatdesk/route"]},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The mention, response or case the event is about"},
        "ce_dataschema": {"type": "string", "format": "uri"},
        "content-type": {"const": "application/json"},
    },
}
DELIVERY = ("At least once. Every event carries a stable `ce_id`: a subscriber that must act once deduplicates on "
            "it. Producers publish only what their database committed (transactional outbox) and consumers commit "
            "offsets only after their own outputs are durable.")


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("com.heatdesk.").replace(".", "_")


def document() -> dict[str, Any]:
    specs = {s.name: s for s in all_topics()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, spec in specs.items():
        if name.startswith("cases.") and name != CASE_EVENTS:
            key, order, producers, consumers, types = ("case id", "per case", ["route"], [], [EventType.CASE_ROUTED])
        else:
            key, order, producers, consumers, types = TOPIC_FACTS[name]
        channel_id = name.replace(".", "_")
        refs = {}
        for event_type in types:
            message = _message_name(event_type)
            refs[message] = {"$ref": f"#/components/messages/{message}"}
            if message not in messages:
                payload: dict[str, Any] = ({"$ref": f"../services/common/schemas/{SCHEMA_FILES[event_type]}"}
                                           if event_type in SCHEMA_FILES else
                                           {"type": "string", "format": "binary",
                                            "description": "the original record's bytes, untouched"})
                messages[message] = {"name": event_type, "contentType": "application/json"
                                     if event_type in SCHEMA_FILES else "application/octet-stream",
                                     "headers": CE_HEADERS, "payload": payload}
        channels[channel_id] = {
            "address": name, "description": f"{spec.why}. Ordering: {order}. {DELIVERY}",
            "messages": refs,
            "bindings": {"kafka": {"topic": name, "topicConfiguration": {
                "retention.ms": int(spec.config["retention.ms"]), "cleanup.policy": ["delete"]},
                "bindingVersion": "0.5.0"}},
            "x-key": key,
        }
        for role, action in ((producers, "send"), (consumers, "receive")):
            for service in role:
                operations[f"{service}_{action}_{channel_id}"] = {
                    "action": action, "channel": {"$ref": f"#/channels/{channel_id}"},
                    "summary": f"{service} {'publishes to' if action == 'send' else 'consumes'} {name}"}
        if name.startswith("cases.") or name in (SLA_ALERTS, DEADLETTER):
            operations[f"subscriber_receive_{channel_id}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"Downstream systems (CRMs, helpdesks, data lakes) subscribe to {name}"}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Heatdesk events", "version": VERSION,
                 "description": "Every topic Heatdesk reads or writes. Topic names and event types are versioned: a "
                                "breaking change gets a new version, never an edit; consumers ignore members they "
                                "do not know."},
        "defaultContentType": "application/json",
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items()))},
    }


def render() -> str:
    import yaml

    return "# Generated by `heatdesk asyncapi` from services/common/{topics,asyncapi}.py and schemas/: do not edit.\n" + \
        yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=110)
