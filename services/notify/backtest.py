"""`heatdesk sla backtest`: how a team would have done under a proposed SLA policy.

A data set of customer posts and brand replies (any `heatdesk replay` layout, e.g. the
Customer Support on Twitter file) is replayed in time order through the same engine the
live service runs - same calendar maths, pauses, next-response and reopen rules - with
event time as the only clock. Threading is by conversation (a post answering a known post
joins its case); a reply by the brand answers the case of the post it replies to. The
policy's auto-close rule is played as route plays it: a case left waiting on the customer
that long is resolved, and a later post reopens it. Clocks still running when the data
ends count as breached if they were already past their target.
"""

from __future__ import annotations

import dataclasses
import heapq
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.common.slapolicy import PolicySet
from services.common.timeutil import format_rfc3339
from services.common.topics import EventType
from services.ingest.replay_sources import ReplayItem
from services.notify.engine import Armed, CaseSla, Effect, Ended, Engine

CASE_NAMESPACE = uuid.UUID("0e6f3c1a-7d2b-4f8e-9a51-2b3c4d5e6f70")


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclasses.dataclass
class BacktestResult:
    policy: str
    cases: int = 0
    responded: int = 0
    first_response: dict[str, float] = dataclasses.field(default_factory=dict)  # case id → business seconds
    breaches: dict[str, int] = dataclasses.field(default_factory=lambda: {"first_response": 0, "resolution": 0})
    unmatched_responses: int = 0
    invalid: int = 0
    autoclosed: int = 0
    reopened: int = 0
    openers: dict[str, str] = dataclasses.field(default_factory=dict)  # case id → external id of its first post
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)  # case id → first response met / breached

    def as_dict(self) -> dict[str, Any]:
        latencies = list(self.first_response.values())
        return {"cases": self.cases, "responded": self.responded,
                "response_rate": round(self.responded / self.cases, 4) if self.cases else 0.0,
                "first_response_seconds": {name: (round(v, 1) if (v := percentile(latencies, q)) is not None else None)
                                           for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
                "breaches": dict(self.breaches)}

    def render(self) -> str:
        d = self.as_dict()
        fr = d["first_response_seconds"]

        def hours(v: float | None) -> str:
            return "-" if v is None else f"{v / 3600:.2f} h"

        return (f"policy {self.policy}: {d['cases']} cases, {d['responded']} answered by a person "
                f"({d['response_rate']:.1%})\n"
                f"first response (business time): p50 {hours(fr['p50'])}, p90 {hours(fr['p90'])}, p99 {hours(fr['p99'])}\n"
                f"breaches: first response {d['breaches']['first_response']}, resolution {d['breaches']['resolution']}\n"
                f"auto-closed {self.autoclosed}, reopened {self.reopened}, replies matching no case "
                f"{self.unmatched_responses}, unreadable rows {self.invalid}")


class Backtest:
    def __init__(self, policies: PolicySet, policy: str, priority: str = "normal", department: str = "support") -> None:
        self.engine = Engine(policies)
        self.policy, self.priority, self.department = policy, priority, department
        self.result = BacktestResult(policy)
        self.states: dict[str, CaseSla] = {}
        self.by_post: dict[tuple[str, str], str] = {}
        self.by_conversation: dict[tuple[str, str], str] = {}
        self.autoclose: list[tuple[datetime, str, int]] = []

    def _snapshot(self, case_id: str, channel: str, opened_at: datetime, status: str) -> dict[str, Any]:
        return {"id": case_id, "status": status, "department": self.department, "priority": self.priority,
                "priority_score": 50, "channel": channel, "sla_policy": self.policy,
                "opened_at": format_rfc3339(opened_at), "last_mention_at": format_rfc3339(opened_at),
                "first_response_due_at": None, "mention_count": 1, "tags": [], "public": True,
                "author": {"id": "backtest", "followers": 0, "verified": False}}

    def _apply(self, case_id: str, event_type: str, at: datetime, status: str, channel: str, opened_at: datetime,
               response: dict[str, Any] | None = None) -> None:
        data: dict[str, Any] = {"case": self._snapshot(case_id, channel, opened_at, status),
                                "occurred_at": format_rfc3339(at)}
        if response is not None:
            data["response"] = response
        state, effects = self.engine.apply(self.states.get(case_id), event_type, data)
        assert state is not None
        self.states[case_id] = state
        self._account(case_id, effects)

    def _account(self, case_id: str, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, Armed) and e.clock.kind == "autoclose" and e.breach_at is not None:
                heapq.heappush(self.autoclose, (e.breach_at, case_id, e.clock.cycle))
            elif isinstance(e, Ended):
                if e.outcome == "breached" and e.clock.kind in self.result.breaches:
                    self.result.breaches[e.clock.kind] += 1
                if e.clock.kind == "first_response" and e.clock.cycle == 0 and e.outcome != "cancelled":
                    self.result.responded += 1
                    self.result.first_response[case_id] = e.elapsed_s
                    self.result.outcomes[case_id] = e.outcome

    def _autoclose_until(self, at: datetime) -> None:
        while self.autoclose and self.autoclose[0][0] <= at:
            due, case_id, cycle = heapq.heappop(self.autoclose)
            state = self.states[case_id]
            clock = state.clocks.get("autoclose")
            if clock is None or clock.cycle != cycle or state.status != "pending":
                continue  # the customer wrote again: that auto-close is moot
            self.result.autoclosed += 1
            self._apply(case_id, EventType.CASE_RESOLVED, due, "resolved", state.channel, state.opened_at,
                        {"id": str(uuid.uuid5(CASE_NAMESPACE, f"autoclose:{case_id}:{cycle}")), "kind": "resolution",
                         "automated": True, "public": False, "created_at": format_rfc3339(due)})

    def feed(self, item: ReplayItem) -> None:
        if item.kind == "invalid":
            self.result.invalid += 1
            return
        self._autoclose_until(item.at)
        body, channel = item.body, str(item.body.get("channel") or "other")
        if item.kind == "mention":
            self._mention(body, channel, item.at)
        elif item.kind == "response":
            self._response(body, channel, item.at)

    def _mention(self, body: dict[str, Any], channel: str, at: datetime) -> None:
        post = str(body["external_id"])
        conversation = str(body.get("conversation_id") or post)
        case_id = (self.by_post.get((channel, str(body.get("in_reply_to") or "")))
                   or self.by_conversation.get((channel, conversation)))
        if case_id is None:
            case_id = str(uuid.uuid5(CASE_NAMESPACE, f"{channel}:{conversation}"))
            self.result.cases += 1
            self.result.openers[case_id] = post
            self._apply(case_id, EventType.CASE_OPENED, at, "open", channel, at)
        else:
            state = self.states[case_id]
            if state.status == "resolved":
                self.result.reopened += 1
                self._apply(case_id, EventType.CASE_REOPENED, at, "open", channel, state.opened_at)
            else:
                self._apply(case_id, EventType.CASE_MENTION_ADDED, at, "open", channel, state.opened_at)
        self.by_post[(channel, post)] = case_id
        self.by_conversation.setdefault((channel, conversation), case_id)

    def _response(self, body: dict[str, Any], channel: str, at: datetime) -> None:
        case_id = (self.by_post.get((channel, str(body.get("in_reply_to") or "")))
                   or self.by_conversation.get((channel, str(body.get("conversation_id") or ""))))
        if case_id is None:
            self.result.unmatched_responses += 1
            return
        state = self.states[case_id]
        response = {"id": str(uuid.uuid5(CASE_NAMESPACE, f"{channel}:{body['external_id']}")), "kind": "reply",
                    "automated": bool(body.get("automated", False)), "public": bool(body.get("public", True)),
                    "created_at": format_rfc3339(at), "first": not state.first_responded}
        self._apply(case_id, EventType.CASE_RESPONDED, at, "pending", channel, state.opened_at, response)

    def finish(self, end: datetime | None) -> BacktestResult:
        """Count clocks still running at the end of the data that were already late."""
        if end is not None:
            self._autoclose_until(end)
            for state in self.states.values():
                for slot, clock in state.clocks.items():
                    if clock.kind in self.result.breaches and slot != "autoclose":
                        if clock.elapsed(end, self.engine.calendar(state, clock)) > clock.target_s:
                            self.result.breaches[clock.kind] += 1
                            if clock.kind == "first_response" and clock.cycle == 0:
                                self.result.outcomes[state.case_id] = "breached"
        return self.result


def backtest(items: Iterable[ReplayItem], policies: PolicySet, policy: str, *, priority: str = "normal",
             department: str = "support") -> BacktestResult:
    run = Backtest(policies, policy, priority, department)
    end = None
    for item in items:
        run.feed(item)
        if item.kind != "invalid":
            end = item.at if end is None else max(end, item.at)
    return run.finish(end)
