"""The published JSON Schemas of the v1 events, by CloudEvents type.

The files under `schemas/` are the contract with downstream subscribers; tests validate
every event the services produce against them so code and contract cannot drift.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from services.common.topics import EventType

BASE_URI = "https://heatdesk.dev/schemas/"

#: CloudEvents type → schema file.
SCHEMA_FILES: dict[str, str] = {
    EventType.MENTION_RECEIVED: "mention.received.v1.json",
    EventType.MENTION_CLASSIFIED: "mention.classified.v1.json",
    EventType.CASE_ROUTED: "case.routed.v1.json",
    EventType.CASE_OPENED: "case.lifecycle.v1.json",
    EventType.CASE_MENTION_ADDED: "case.lifecycle.v1.json",
    EventType.CASE_ESCALATED: "case.lifecycle.v1.json",
    EventType.CASE_RESPONDED: "case.lifecycle.v1.json",
    EventType.CASE_RESOLVED: "case.lifecycle.v1.json",
    EventType.CASE_REOPENED: "case.lifecycle.v1.json",
    EventType.CASE_ASSIGNED: "case.lifecycle.v1.json",
    EventType.SLA_BREACHED: "sla.alert.v1.json",
    EventType.RESPONSE_RECORDED: "response.recorded.v1.json",
}


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema document by its `$id`."""
    folder = resources.files("services.common").joinpath("schemas")
    docs = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            doc = json.loads(entry.read_text())
            docs[doc["$id"]] = doc
    return docs


def schema_uri(event_type: str) -> str:
    return BASE_URI + SCHEMA_FILES[event_type]
