"""Readers for `heatdesk replay`: JSONL and CSV files in the layouts Heatdesk knows.

Each reader yields `ReplayItem`s - a generic mention body (`POST /v1/mentions`) or a
response body (`POST /v1/responses`) - with the original timestamp, so a replay follows
the data set's own clock. Known CSV layouts are detected from the header:

- generic:   channel, external_id, text, author_id[, author_handle, author_name, followers,
             verified], created_at[, conversation_id, in_reply_to]
- twcs:      Customer Support on Twitter (tweet_id, author_id, inbound, created_at, text,
             response_tweet_id, in_response_to_tweet_id); brand tweets become responses
- airline:   Twitter US Airline Sentiment (tweet_id, name, text, tweet_created, …)
- banking77: text, category (no timestamps: spaced one second apart from the start)
- cfpb:      CFPB complaint exports, either column spelling (narratives only)

JSONL lines are generic mention bodies, or response bodies marked `"type": "response"`.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson

from services.common.errors import InvalidInput
from services.common.timeutil import format_rfc3339, parse_rfc3339

LAYOUTS = ("auto", "generic", "twcs", "airline", "banking77", "cfpb")


@dataclasses.dataclass(frozen=True)
class ReplayItem:
    kind: str  # "mention", "response", or "invalid" (body["error"] says why)
    body: dict[str, Any]
    at: datetime  # the original time: created_at of the post
    line: int


def _invalid(line: int, error: str) -> ReplayItem:
    return ReplayItem("invalid", {"error": error}, datetime.min.replace(tzinfo=UTC), line)


Rows = list[tuple[int, dict[str, str]]]  # (line number in the file, row)


def _rows(rows: Rows, convert: Any) -> Iterator[ReplayItem]:
    """Convert each row; a row that cannot be read becomes an "invalid" item, not a crash."""
    for line, row in rows:
        try:
            item = convert(line, row)
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
            yield _invalid(line, f"{type(exc).__name__}: {exc}")
            continue
        if item is not None:
            yield item


def detect_layout(header: list[str]) -> str:
    names = {h.strip().lower().replace(" ", "_") for h in header}
    if {"tweet_id", "author_id", "inbound", "in_response_to_tweet_id"} <= names:
        return "twcs"
    if {"tweet_id", "airline_sentiment", "tweet_created"} <= names:
        return "airline"
    if names == {"text", "category"}:
        return "banking77"
    if {"consumer_complaint_narrative", "complaint_id"} <= names:
        return "cfpb"
    if {"channel", "external_id", "text", "created_at"} <= names:
        return "generic"
    raise InvalidInput("Unknown CSV layout", [{"pointer": "/header", "detail": ", ".join(header)[:300]}])


def _twitter_time(value: str) -> datetime:
    return parsedate_to_datetime(value).astimezone(UTC)


def _tweet_ref(value: str) -> str | None:
    value = (value or "").strip()
    return str(int(float(value))) if value else None


def _twcs(rows: Rows) -> Iterator[ReplayItem]:
    author_of = {r["tweet_id"]: r["author_id"] for _, r in rows}
    parent_of: dict[str, str | None] = {}
    for _, r in rows:
        try:
            parent_of[r["tweet_id"]] = _tweet_ref(r["in_response_to_tweet_id"])
        except (ValueError, OverflowError):
            parent_of[r["tweet_id"]] = None

    def root(tweet_id: str) -> str:
        seen = set()
        while parent_of.get(tweet_id) and tweet_id not in seen and parent_of[tweet_id] in author_of:
            seen.add(tweet_id)
            tweet_id = parent_of[tweet_id]  # type: ignore[assignment]
        return tweet_id

    def convert(line: int, row: dict[str, str]) -> ReplayItem | None:
        at = _twitter_time(row["created_at"])
        parent = _tweet_ref(row["in_response_to_tweet_id"])
        conversation = root(row["tweet_id"])
        if row["inbound"].strip().lower() == "true":
            return ReplayItem("mention", {
                "channel": "x", "external_id": row["tweet_id"], "text": row["text"],
                "author": {"id": row["author_id"], "handle": None, "verified": False},  # no follower count
                "created_at": format_rfc3339(at), "conversation_id": conversation, "in_reply_to": parent,
                "kind": "reply" if parent else "post"}, at, line)
        if parent:
            return ReplayItem("response", {
                "channel": "x", "external_id": row["tweet_id"], "kind": "reply", "in_reply_to": parent,
                "conversation_id": conversation, "customer_id": author_of.get(parent),
                "author": {"id": row["author_id"], "name": row["author_id"]}, "text": row["text"],
                "created_at": format_rfc3339(at), "public": True}, at, line)
        return None  # a brand's own broadcast: neither a mention nor a reply

    yield from _rows(rows, convert)


def _airline(rows: Rows) -> Iterator[ReplayItem]:
    def convert(line: int, row: dict[str, str]) -> ReplayItem:
        at = datetime.strptime(row["tweet_created"], "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
        return ReplayItem("mention", {
            "channel": "x", "external_id": row["tweet_id"], "text": row["text"],
            "author": {"id": row["name"], "handle": row["name"], "verified": False},
            "created_at": format_rfc3339(at), "kind": "post"}, at, line)

    yield from _rows(rows, convert)


def _banking77(rows: Rows, start: datetime) -> Iterator[ReplayItem]:
    for n, (line, row) in enumerate(rows):
        at = start + timedelta(seconds=n)
        yield ReplayItem("mention", {
            "channel": "chat", "external_id": f"banking77-{line}", "text": row["text"],
            "author": {"id": f"banking77-customer-{line}"}, "created_at": format_rfc3339(at), "kind": "chat"}, at, line)


def _cfpb(rows: Rows) -> Iterator[ReplayItem]:
    def convert(line: int, row: dict[str, str]) -> ReplayItem | None:
        norm = {k.strip().lower().replace(" ", "_"): v for k, v in row.items()}
        narrative = (norm.get("consumer_complaint_narrative") or "").strip()
        if not narrative:
            return None
        raw_date = norm.get("date_received", "")
        fmt = "%Y-%m-%d" if len(raw_date) == 10 and raw_date[4] == "-" else "%d-%m-%Y"
        at = datetime.strptime(raw_date, fmt).replace(tzinfo=UTC)
        return ReplayItem("mention", {
            "channel": "other", "external_id": f"cfpb-{norm['complaint_id']}", "text": narrative,
            "author": {"id": f"cfpb-consumer-{norm['complaint_id']}"}, "created_at": format_rfc3339(at),
            "kind": "post"}, at, line)

    yield from _rows(rows, convert)


def _generic_csv(rows: Rows) -> Iterator[ReplayItem]:
    def convert(line: int, row: dict[str, str]) -> ReplayItem:
        body: dict[str, Any] = {
            "channel": row["channel"], "external_id": row["external_id"], "text": row["text"],
            "author": {"id": row.get("author_id"), "handle": row.get("author_handle") or None,
                       "name": row.get("author_name") or None,
                       "followers": int(row["followers"]) if row.get("followers") else None,
                       "verified": (row.get("verified") or "").lower() in ("1", "true", "yes")},
            "created_at": row["created_at"],
        }
        for name in ("conversation_id", "in_reply_to", "url", "language"):
            if row.get(name):
                body[name] = row[name]
        return ReplayItem("mention", body, parse_rfc3339(body["created_at"]), line)

    yield from _rows(rows, convert)


def read_jsonl(path: Path) -> Iterator[ReplayItem]:
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                body = orjson.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("not a JSON object")
                kind = "response" if body.pop("type", "mention") == "response" else "mention"
                yield ReplayItem(kind, body, parse_rfc3339(body.get("created_at")), line)
            except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                yield _invalid(line, f"{type(exc).__name__}: {exc}")


def read_csv(path: Path, layout: str = "auto", start: datetime | None = None) -> Iterator[ReplayItem]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))  # long CFPB narratives
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        chosen = detect_layout(header) if layout == "auto" else layout
        rows = [(reader.line_num, row) for row in reader]
    if chosen == "twcs":
        yield from _twcs(rows)
    elif chosen == "airline":
        yield from _airline(rows)
    elif chosen == "banking77":
        yield from _banking77(rows, start or datetime.now(UTC))
    elif chosen == "cfpb":
        yield from _cfpb(rows)
    else:
        yield from _generic_csv(rows)


def read_items(path: Path, layout: str = "auto") -> list[ReplayItem]:
    """Every item of the file in time order (stable for equal times: file order)."""
    items = list(read_jsonl(path) if path.suffix.lower() in (".jsonl", ".ndjson") else read_csv(path, layout))
    items.sort(key=lambda item: item.at)
    return items
