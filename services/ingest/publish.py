"""From parsed payloads to acknowledged records on `mentions.raw.v1` and `responses.v1`.

A small in-process memory of recently acknowledged ids answers a platform's retry without
publishing again; it is only a shortcut (per replica, bounded): route's unique mention id
keeps the final word across replicas, restarts and replays.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from typing import Any

import orjson

from services.common.channels import conversation_key
from services.common.consumer_loop import letter_headers
from services.common.envelope import Event
from services.common.kafka import Publisher
from services.common.metrics import Children, Metrics
from services.common.timeutil import parse_rfc3339
from services.common.topics import DEADLETTER, MENTIONS_RAW, RESPONSES, EventType
from services.ingest.channels.common import Parsed

SOURCE = "heatdesk/ingest"


class RecentIds:
    """A bounded LRU set of ids already acknowledged by the broker."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, item: str) -> bool:
        if item in self._ids:
            self._ids.move_to_end(item)
            return True
        return False

    def add(self, item: str) -> None:
        self._ids[item] = None
        self._ids.move_to_end(item)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


def response_key(response: dict[str, Any]) -> str:
    """Same partition as the customer's mentions when the customer is known."""
    if response.get("customer_id"):
        return conversation_key(response["channel"], response["customer_id"])
    for name in ("case_id", "in_reply_to", "conversation_id"):
        if response.get(name):
            return f"{response['channel']}:{name}:{response[name]}"
    return f"{response['channel']}:{response['external_id']}"


def mention_event(mention: dict[str, Any]) -> Event:
    return Event(type=EventType.MENTION_RECEIVED, source=SOURCE, data=mention,
                 key=conversation_key(mention["channel"], mention["author"]["id"]), subject=mention["id"],
                 time=parse_rfc3339(mention["received_at"]))


def response_event(response: dict[str, Any]) -> Event:
    return Event(type=EventType.RESPONSE_RECORDED, source=SOURCE, data=response, key=response_key(response),
                 subject=response["id"], time=parse_rfc3339(response["received_at"]))


@dataclasses.dataclass(frozen=True)
class Published:
    mention_ids: list[str]
    response_ids: list[str]
    duplicates: int


class IngestPublisher:
    def __init__(self, publisher: Publisher, metrics: Metrics, recent_capacity: int = 100_000) -> None:
        self.publisher = publisher
        self.metrics = metrics
        self.recent = RecentIds(recent_capacity)
        self._ingested = Children(metrics.mentions_ingested)  # by channel, looked up once each
        self._responses = Children(metrics.responses_ingested)
        metrics.deadletters.labels("ingest", "unfetched_mention")  # exported at 0: the first one is an increase

    async def publish(self, parsed: Parsed, timeout_s: float) -> Published:
        """Publish what is new; return once the broker acknowledged all of it (or raise)."""
        items: list[tuple[str, Event]] = []
        duplicates = 0
        for mention in parsed.mentions:
            if mention["id"] in self.recent:
                duplicates += 1
            else:
                items.append((MENTIONS_RAW, mention_event(mention)))
        for response in parsed.responses:
            if response["id"] in self.recent:
                duplicates += 1
            else:
                items.append((RESPONSES, response_event(response)))
        if items or parsed.letters:  # asyncio.timeout, not wait_for: no task per request
            async with asyncio.timeout(timeout_s):
                await self.publisher.publish_many(items)
                for letter in parsed.letters:
                    headers = letter_headers("ingest", letter.reason, letter.detail, letter.source,
                                             content_type=b"application/json")
                    await self.publisher.publish_raw(DEADLETTER, orjson.dumps(letter.value), letter.key.encode(), headers)
        for letter in parsed.letters:
            self.metrics.deadletters.labels("ingest", letter.reason).inc()
        for _, event in items:
            self.recent.add(event.data["id"])
        for mention in parsed.mentions:
            self._ingested(mention["channel"]).inc()
        for response in parsed.responses:
            self._responses(response["channel"]).inc()
        if duplicates:
            self.metrics.duplicates_skipped.inc(duplicates)
        return Published([m["id"] for m in parsed.mentions], [r["id"] for r in parsed.responses], duplicates)
