"""What a TWCS-layout file says happened, and where the system of record disagrees with it.

The truth is read from the file alone (not from route's code): a case per conversation that
holds a customer's post, each brand reply on the case of the post it answers (through brand
replies to brand replies, up the chain), the case opening at its earliest post and first
answered at its earliest reply. `compare` reads the database and lists every disagreement;
an empty report is the promise of issue 19.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.ingest.replay_sources import ReplayItem

RESPONDED = "com.heatdesk.case.responded.v1"


@dataclasses.dataclass
class Truth:
    conversation_of_mention: dict[str, str]
    conversation_of_reply: dict[str, str | None]  # None: answers no customer's post
    opened_at: dict[str, datetime]  # conversation → its earliest customer post
    first_response_at: dict[str, datetime]  # conversation → its earliest brand reply

    @property
    def conversations(self) -> set[str]:
        return set(self.opened_at)


def truth(items: Sequence[ReplayItem]) -> Truth:
    mentions = {i.body["external_id"]: i for i in items if i.kind == "mention"}
    replies = {i.body["external_id"]: i for i in items if i.kind == "response"}
    conversation_of_mention = {ext: str(i.body.get("conversation_id") or ext) for ext, i in mentions.items()}
    opened_at: dict[str, datetime] = {}
    for ext, item in mentions.items():
        conv = conversation_of_mention[ext]
        opened_at[conv] = min(opened_at.get(conv, item.at), item.at)

    def answers(ext: str, seen: frozenset[str] = frozenset()) -> str | None:
        parent = replies[ext].body.get("in_reply_to")
        if parent in conversation_of_mention:
            return conversation_of_mention[parent]
        if parent in replies and parent not in seen:
            return answers(parent, seen | {ext})
        return None

    conversation_of_reply = {ext: answers(ext) for ext in replies}
    first: dict[str, datetime] = {}
    for ext, conv in conversation_of_reply.items():
        if conv is not None and not replies[ext].body.get("automated"):
            first[conv] = min(first.get(conv, replies[ext].at), replies[ext].at)
    return Truth(conversation_of_mention, conversation_of_reply, opened_at, first)


@dataclasses.dataclass
class Report:
    cases: int = 0
    conversations: int = 0
    cases_mixing_conversations: list[str] = dataclasses.field(default_factory=list)
    conversations_split: list[str] = dataclasses.field(default_factory=list)
    replies_on_wrong_case: list[str] = dataclasses.field(default_factory=list)
    replies_missing: list[str] = dataclasses.field(default_factory=list)
    responded_events_not_once: list[str] = dataclasses.field(default_factory=list)
    wrong_opened_at: list[str] = dataclasses.field(default_factory=list)
    wrong_first_response_at: list[str] = dataclasses.field(default_factory=list)
    case_of_conversation: dict[str, str] = dataclasses.field(default_factory=dict)

    def problems(self) -> dict[str, Any]:
        """Every kind of disagreement with a count and a few examples (empty: none)."""
        found = {}
        if self.cases != self.conversations:
            found["case count"] = f"{self.cases} cases for {self.conversations} conversations"
        for name in ("cases_mixing_conversations", "conversations_split", "replies_on_wrong_case", "replies_missing",
                     "responded_events_not_once", "wrong_opened_at", "wrong_first_response_at"):
            values = getattr(self, name)
            if values:
                found[name] = (len(values), values[:5])
        return found


async def compare(conn: asyncpg.Connection, expected: Truth) -> Report:
    report = Report(conversations=len(expected.conversations))
    rows = await conn.fetch("SELECT id::text, opened_at, first_response_at FROM cases")
    cases = {r["id"]: r for r in rows}
    report.cases = len(cases)
    conversations_of_case: dict[str, set[str]] = defaultdict(set)
    cases_of_conversation: dict[str, set[str]] = defaultdict(set)
    for r in await conn.fetch("SELECT external_id, case_id::text FROM mentions WHERE channel = 'x'"):
        conv = expected.conversation_of_mention.get(r["external_id"])
        if conv is not None:
            conversations_of_case[r["case_id"]].add(conv)
            cases_of_conversation[conv].add(r["case_id"])
    report.cases_mixing_conversations = sorted(c for c, convs in conversations_of_case.items() if len(convs) > 1)
    report.conversations_split = sorted(c for c, ids in cases_of_conversation.items() if len(ids) > 1)
    report.case_of_conversation = {conv: next(iter(ids)) for conv, ids in cases_of_conversation.items()}
    stored = {r["external_id"]: (r["id"], r["case_id"]) for r in
              await conn.fetch("SELECT id::text, external_id, case_id::text FROM responses WHERE channel = 'x'")}
    for ext, conv in expected.conversation_of_reply.items():
        if ext not in stored:
            report.replies_missing.append(ext)
            continue
        want = report.case_of_conversation.get(conv) if conv is not None else None
        if stored[ext][1] != want:
            report.replies_on_wrong_case.append(f"{ext}: on {stored[ext][1]}, answers {want}")
    events = Counter(r["rid"] for r in await conn.fetch(
        "SELECT data->'response'->>'id' AS rid FROM case_events WHERE type = $1", RESPONDED))
    for ext, (rid, case_id) in stored.items():
        if events.get(rid, 0) != (1 if case_id is not None else 0):
            report.responded_events_not_once.append(f"{ext}: {events.get(rid, 0)} events")
    for conv, case_id in report.case_of_conversation.items():
        case = cases[case_id]
        if case["opened_at"] != expected.opened_at[conv]:
            report.wrong_opened_at.append(f"{conv}: {case['opened_at']} != {expected.opened_at[conv]}")
        if case["first_response_at"] != expected.first_response_at.get(conv):
            report.wrong_first_response_at.append(
                f"{conv}: {case['first_response_at']} != {expected.first_response_at.get(conv)}")
    return report
