"""Route one poll's worth of classified mentions and responses in one transaction.

Reads are set-based (existing ids, authors, references, candidate cases, repeat counts:
one statement each), decisions happen in memory in record order, writes are batched
(`executemany` pipelines). So a batch of 500 mentions costs about ten round trips, not
five per mention, and a mention can join a case opened earlier in the same batch.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.common.envelope import Event
from services.common.ids import uuid7
from services.common.timeutil import parse_rfc3339
from services.common.topics import EventType
from services.route import events as ev
from services.route import store
from services.route.responses import ResponseApplier
from services.route.rules.facts import facts
from services.route.rules.match import decide
from services.route.rules.model import RuleSet
from services.route.state import CaseState, ThreadingPolicy, choose_case, raise_priority

#: due(created_at, priority, sla_policy, department, channel, tags, public) → first-response deadline
DueFunction = Callable[[datetime, str, str, str, str, Sequence[str], bool], datetime | None]
PRIVATE_KINDS = ("direct_message", "email")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclasses.dataclass(frozen=True)
class Outcome:
    mention_id: str
    outcome: str  # opened, added, reopened, duplicate
    case_id: str | None
    department: str
    priority: str


@dataclasses.dataclass
class BatchResult:
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    events: list[tuple[str, Event]] = dataclasses.field(default_factory=list)
    responses: dict[str, int] = dataclasses.field(default_factory=dict)


class BatchRouter:
    def __init__(self, rules: Callable[[], RuleSet], threading: ThreadingPolicy, due: DueFunction,
                 repeat_window: timedelta) -> None:
        self.rules = rules
        self.threading = threading
        self.due = due
        self.repeat_window = repeat_window

    async def route(self, conn: asyncpg.Connection, mentions: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                    responses: Sequence[dict[str, Any]] = ()) -> BatchResult:
        """Everything inside the caller's transaction; returns the events for the outbox."""
        result = BatchResult()
        existing = await store.existing_mentions(conn, [m["id"] for m, _ in mentions]) if mentions else set()
        fresh: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for mention, classification in mentions:
            if mention["id"] in existing:
                result.outcomes.append(Outcome(mention["id"], "duplicate", None, classification["department"],
                                               classification["priority"]["bucket"]))
            else:
                existing.add(mention["id"])
                fresh.append((mention, classification))
        cases: dict[str, CaseState] = {}
        authors: dict[int, dict[str, Any]] = {}
        if fresh:
            await self._route_fresh(conn, fresh, cases, authors, result)
        applier = ResponseApplier(conn, cases, authors)
        if responses:
            result.responses = await applier.apply_new(responses, result.events)
        if fresh:  # answers that arrived before the posts they answer
            late = await applier.apply_waiting([(m["channel"], m["external_id"]) for m, _ in fresh], result.events)
            if late:
                result.responses["applied_late"] = late
        await store.write_cases(conn, list(cases.values()))
        await applier.flush()
        return result

    async def apply_overdue_replies(self, conn: asyncpg.Connection, wait_s: float, limit: int = 500) -> BatchResult:
        """Replies that waited `wait_s` for their post, matched by conversation or customer
        (inside the caller's transaction; the events go to the outbox as a batch's do)."""
        result = BatchResult()
        cases: dict[str, CaseState] = {}
        applier = ResponseApplier(conn, cases, {})
        result.responses = await applier.apply_overdue(wait_s, limit, result.events)
        await store.write_cases(conn, list(cases.values()))
        await applier.flush()
        return result

    async def _route_fresh(self, conn: asyncpg.Connection, fresh: list[tuple[dict[str, Any], dict[str, Any]]],
                           cases: dict[str, CaseState], authors: dict[int, dict[str, Any]],
                           result: BatchResult) -> None:
        rules = self.rules()
        ids = await store.upsert_authors(conn, [(m["channel"], m["author"]) for m, _ in fresh])
        people = sorted({ids[(m["channel"], str(m["author"]["id"]))][1] for m, _ in fresh})
        await store.lock_people(conn, people)
        # Checked again under the lock: during a rebalance two replicas may both hold this
        # batch, and the first may have committed it while the second waited for the lock.
        routed_meanwhile = await store.existing_mentions(conn, [m["id"] for m, _ in fresh])
        if routed_meanwhile:
            for mention, classification in fresh:
                if mention["id"] in routed_meanwhile:
                    result.outcomes.append(Outcome(mention["id"], "duplicate", None, classification["department"],
                                                   classification["priority"]["bucket"]))
            fresh[:] = [(m, c) for m, c in fresh if m["id"] not in routed_meanwhile]
            if not fresh:
                return
        await store.add_email_aliases(conn, [(ids[(m["channel"], str(m["author"]["id"]))][1], email)
                                             for m, _ in fresh if m.get("kind") == "direct_message"
                                             for email in _EMAIL.findall(m["text"])])
        refs = sorted({(m["channel"], r) for m, _ in fresh for r in (m.get("in_reply_to"), m.get("conversation_id"))
                       if r})
        by_ref = await store.cases_by_reference(conn, refs)
        earliest = min(parse_rfc3339(m["created_at"]) for m, _ in fresh)
        since = earliest - max(self.threading.window, self.threading.reopen_window)
        by_person: dict[int, list[CaseState]] = {}  # each mention looks up its author's cases
        for case in await store.load_cases(conn, sorted(set(by_ref.values())), people, since):
            cases[case.id] = case
            by_person.setdefault(case.person_id, []).append(case)
        repeat = await store.repeat_counts(conn, people, earliest - self.repeat_window)
        mention_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[str, datetime, Event]] = []
        for mention, classification in fresh:
            author_id, person_id = ids[(mention["channel"], str(mention["author"]["id"]))]
            authors[author_id] = mention["author"]
            created_at = parse_rfc3339(mention["created_at"])
            prior = repeat.get(person_id, (0, 0))
            decision = decide(rules, facts(mention, classification, {"cases": prior[0], "complaints": prior[1]}))
            reference = next((cases.get(by_ref[(mention["channel"], r)]) for r in
                              (mention.get("in_reply_to"), mention.get("conversation_id"))
                              if r and (mention["channel"], r) in by_ref), None)
            person_cases = by_person.get(person_id, [])
            is_complaint = classification.get("intent") == "complaint"
            action, case = choose_case(by_reference=reference, person_cases=person_cases, created_at=created_at,
                                       is_complaint=is_complaint, policy=self.threading)
            score = int(classification["priority"]["score"])
            lifecycle: list[tuple[str, Event]] = []
            author = mention["author"]
            if case is None:
                case = self._open(mention, classification, decision, author_id, person_id, created_at, score, prior)
                cases[case.id] = case
                by_person.setdefault(person_id, []).append(case)
                repeat[person_id] = (prior[0] + 1, prior[1] + int(is_complaint))
                snap = ev.snapshot(case, author)  # every event of this mention announces this state
                lifecycle.append(ev.lifecycle(EventType.CASE_OPENED, case, author, created_at, snap,
                                              mention_id=mention["id"]))
                if decision.escalated_by:
                    lifecycle.append(ev.lifecycle(EventType.CASE_ESCALATED, case, author, created_at, snap,
                                                  escalation={"rule": ",".join(decision.escalated_by),
                                                              "departments_added": list(case.departments[1:])}))
            else:
                before = (case.priority, list(case.departments))
                self._add(case, mention, classification, decision, created_at, score, reopen=action == "reopen")
                snap = ev.snapshot(case, author)
                kind = EventType.CASE_REOPENED if action == "reopen" else EventType.CASE_MENTION_ADDED
                lifecycle.append(ev.lifecycle(kind, case, author, created_at, snap, mention_id=mention["id"]))
                added = [d for d in case.departments if d not in before[1]]
                if added or case.priority != before[0]:
                    lifecycle.append(ev.lifecycle(EventType.CASE_ESCALATED, case, author, created_at, snap,
                                                  escalation={"rule": ",".join(decision.matched) or "priority",
                                                              "departments_added": added, "priority_from": before[0],
                                                              "priority_to": case.priority}))
            outcome = {"open": "opened", "add": "added", "reopen": "reopened"}[action]
            result.outcomes.append(Outcome(mention["id"], outcome, case.id, case.department, case.priority))
            mention_rows.append(_mention_row(mention, classification, case.id, author_id, created_at))
            for _, event in lifecycle:
                event_rows.append((case.id, created_at, event))
            result.events += ev.routed("opened" if action == "open" else "added", case, author, mention,
                                       classification, case.departments, snap)
            result.events += lifecycle
            by_ref[(mention["channel"], mention["external_id"])] = case.id
            if mention.get("conversation_id"):
                by_ref.setdefault((mention["channel"], mention["conversation_id"]), case.id)
        await store.write_cases(conn, list(cases.values()))  # cases first: mentions reference them
        for case in cases.values():
            case.is_new = case.changed = False
        await store.insert_mentions(conn, mention_rows)
        await store.insert_case_events(conn, event_rows)

    def _open(self, mention: dict[str, Any], classification: dict[str, Any], decision: Any, author_id: int,
              person_id: int, created_at: datetime, score: int, prior: tuple[int, int]) -> CaseState:
        flags = sorted(set(classification.get("flags") or []) | ({"repeat_author"} if prior[0] else set()))
        return CaseState(
            id=uuid7(), status="open", department=decision.department, departments=list(decision.departments),
            priority=decision.priority, priority_score=score, channel=mention["channel"], author_id=author_id,
            person_id=person_id, conversation_key=f"{mention['channel']}:{mention['author']['id']}",
            sla_policy=decision.sla_policy, opened_at=created_at, last_mention_at=created_at,
            first_response_due_at=self.due(created_at, decision.priority, decision.sla_policy, decision.department,
                                           mention["channel"], decision.tags,
                                           mention.get("kind", "post") not in PRIVATE_KINDS),
            mention_count=1, complaint_count=int(classification.get("intent") == "complaint"),
            tags=list(decision.tags), flags=flags, repeat_cases=prior[0], repeat_complaints=prior[1],
            public=mention.get("kind", "post") not in PRIVATE_KINDS, is_new=True, changed=True)

    def _add(self, case: CaseState, mention: dict[str, Any], classification: dict[str, Any], decision: Any,
             created_at: datetime, score: int, reopen: bool) -> None:
        case.changed = True
        case.mention_count += 1
        case.complaint_count += int(classification.get("intent") == "complaint")
        case.last_mention_at = max(case.last_mention_at, created_at)
        if created_at < case.opened_at:  # an earlier post arrived late: the case began then
            case.opened_at = created_at
            if not case.reopened_count:
                case.first_response_due_at = self._due_from(case, created_at)
        case.flags = sorted(set(case.flags) | set(classification.get("flags") or []))
        case.tags = case.tags + [t for t in decision.tags if t not in case.tags]
        case.departments = case.departments + [d for d in decision.added_by_rules if d not in case.departments]
        raise_priority(case, decision.priority, score)
        if reopen:
            case.reopened_count += 1
            case.resolved_at = None
            case.first_response_due_at = self._due_from(case, created_at)
        if reopen or case.last_response_at is None or created_at >= case.last_response_at:
            case.status = "open"  # a customer's post puts the ball back in the brand's court
        # (one older than the brand's last reply, arriving late, leaves the case waiting on them)


    def _due_from(self, case: CaseState, start: datetime) -> datetime | None:
        """The case's first-response deadline for a clock starting at `start`."""
        return self.due(start, case.priority, case.sla_policy, case.department, case.channel, case.tags, case.public)


def _mention_row(mention: dict[str, Any], classification: dict[str, Any], case_id: str, author_id: int,
                 created_at: datetime) -> tuple[Any, ...]:
    return (mention["id"], case_id, mention["channel"], mention["external_id"], mention.get("conversation_id"),
            mention.get("in_reply_to"), author_id, mention["text"], mention.get("language"), mention.get("url"),
            created_at, parse_rfc3339(mention["received_at"]), store._json(classification),
            store._json(mention.get("raw")))
