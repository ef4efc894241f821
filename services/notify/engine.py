"""The SLA state machine of one case: lifecycle events in, clock changes out (pure).

notify's consumer and `heatdesk sla backtest` both run this, so a backtest answers with
exactly the breaches and latencies the live service would have produced. Rules, in the
words of the helpdesks that get them right:

- a case owes a **first response** from the customer's first post (`opened_at`); route's
  `first_response_due_at` is the deadline of record, and the business-time target is
  derived from it so that pauses move it consistently;
- a **next response** clock starts when the customer writes again after the brand's last
  word, and stops at the next human reply;
- the **resolution** clock runs from the first post to resolution;
- every clock pauses while the case waits on the customer (`pending`) and resumes when
  the customer writes again; an auto-close clock runs only while pending;
- automated replies change nothing: they never stop a clock nor pause one;
- a reopened case gets new clocks (new cycles); figures already measured stay as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.common.slapolicy import TWENTY_FOUR_SEVEN, Calendar, Policy, PolicySet, SlaClock, Step
from services.common.timeutil import parse_rfc3339
from services.common.topics import EventType

SLOTS = {"first_response": "response", "next_response": "response", "resolution": "resolution",
         "autoclose": "autoclose"}


@dataclasses.dataclass
class CaseSla:
    """What notify remembers of a case between events."""

    case_id: str
    status: str
    policy: str
    priority: str
    department: str
    channel: str
    public: bool | None
    tags: tuple[str, ...]
    opened_at: datetime
    first_response_due_at: datetime | None = None
    first_responded: bool = False
    clocks: dict[str, SlaClock] = dataclasses.field(default_factory=dict)  # active clocks by slot
    #: The first-response clock once it stopped (its `last_change_at` is when), kept so that a late
    #: event - an earlier reply, an earlier post - can correct the measurement by event time.
    first_measured: SlaClock | None = None
    cycles: dict[str, int] = dataclasses.field(default_factory=dict)  # last cycle used per kind

    def next_cycle(self, kind: str) -> int:
        self.cycles[kind] = self.cycles.get(kind, -1) + 1
        return self.cycles[kind]


@dataclasses.dataclass(frozen=True)
class Armed:
    """(Re)schedule a clock: its steps and when each falls due (None while paused)."""

    clock: SlaClock
    steps: tuple[Step, ...]
    times: tuple[datetime | None, ...]
    breach_at: datetime | None
    new: bool


@dataclasses.dataclass(frozen=True)
class Ended:
    """A clock stopped: answered/resolved in time (`met`), late (`breached`) or moot (`cancelled`)."""

    clock: SlaClock
    at: datetime
    elapsed_s: float
    outcome: str
    corrects: bool = False  # replaces what this clock measured before (a late event moved its start or end)


Effect = Armed | Ended


def _ts(value: Any) -> datetime | None:
    return parse_rfc3339(value) if value else None


class Engine:
    """Applies one lifecycle event to a case's SLA state; `policies()` gives the set in force."""

    #: Entries of each memo before it is emptied (a backtest keeps one engine for a whole replay).
    MEMO_LIMIT = 4096

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        # Resolving a policy and deriving a clock's steps depend only on the case's facts, yet
        # each event asked several times (target, steps, calendar): per engine, so a reloaded
        # policy set starts afresh.
        self._resolved: dict[tuple[Any, ...], Policy] = {}
        self._steps: dict[tuple[Any, ...], list[Step]] = {}

    # -- policy plumbing -----------------------------------------------------------------------

    def resolve(self, name: str | None, priority: str, department: str, channel: str, tags: tuple[str, ...],
                public: bool | None) -> Policy:
        key = (name, priority, department, channel, tags, public)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= self.MEMO_LIMIT:
                self._resolved.clear()
                self._steps.clear()
            found = self._resolved[key] = self.policies.resolve(name, priority, department, channel, tags, public)
        return found

    def policy(self, s: CaseSla) -> Policy:
        return self.resolve(s.policy, s.priority, s.department, s.channel, s.tags, s.public)

    def steps(self, s: CaseSla, kind: str, target_s: float) -> list[Step]:
        key = (s.policy, s.priority, s.department, s.channel, s.tags, s.public, kind, target_s)
        found = self._steps.get(key)
        if found is None:
            found = self._steps[key] = self.policy(s).steps(kind, target_s)
        return found

    def calendar(self, s: CaseSla, clock: SlaClock) -> Calendar:
        if clock.kind == "autoclose":
            found = self.policy(s).autoclose()
            return found[1] if found else TWENTY_FOUR_SEVEN
        return self.policy(s).calendar

    def _target(self, s: CaseSla, kind: str, started_at: datetime) -> float | None:
        policy = self.policy(s)
        if kind == "first_response" and s.first_response_due_at is not None and started_at == s.opened_at:
            return policy.calendar.business_seconds(s.opened_at, s.first_response_due_at)
        if kind == "autoclose":
            found = policy.autoclose()
            return found[0].offset_s if found else None
        return policy.target(kind)

    def _armed(self, s: CaseSla, clock: SlaClock, new: bool) -> Armed:
        policy, calendar = self.policy(s), self.calendar(s, clock)
        if clock.kind == "autoclose":
            found = policy.autoclose()
            steps = [dataclasses.replace(found[0], offset_s=clock.target_s)] if found else []
        else:
            steps = self.steps(s, clock.kind, clock.target_s)
        times = clock.times([st.offset_s for st in steps], calendar)
        return Armed(clock, tuple(steps), tuple(times), clock.due(calendar), new)

    def _start(self, s: CaseSla, kind: str, at: datetime, out: list[Effect]) -> None:
        target = self._target(s, kind, at)
        if target is None:
            return
        clock = SlaClock.start(kind, s.next_cycle(kind), at, target)
        s.clocks[SLOTS[kind]] = clock
        out.append(self._armed(s, clock, new=True))

    def _end(self, s: CaseSla, slot: str, at: datetime, out: list[Effect], answered: bool) -> SlaClock | None:
        clock = s.clocks.pop(slot, None)
        if clock is None:
            return None
        elapsed = clock.elapsed(at, self.calendar(s, clock))
        outcome = ("met" if elapsed <= clock.target_s else "breached") if answered else "cancelled"
        ended_at = max(at, clock.last_change_at or at)
        out.append(Ended(clock, ended_at, elapsed, outcome))
        if clock.kind == "first_response" and clock.cycle == 0 and answered:
            s.first_measured = dataclasses.replace(clock, elapsed_s=elapsed, resumed_at=None, last_change_at=ended_at)
        return clock

    def _correct_first(self, s: CaseSla, out: list[Effect], start: datetime | None = None,
                       end: datetime | None = None) -> None:
        """Measure the stopped first-response clock again from an earlier first post or to an
        earlier reply. Only a clock that ran without a pause can be re-measured from its ends
        (the usual case: the case waits on the customer only after a reply); another one keeps
        what it measured."""
        clock = s.first_measured
        if clock is None or clock.last_change_at is None:
            return
        calendar = self.calendar(s, clock)
        old_end = clock.last_change_at
        if abs(calendar.business_seconds(clock.started_at, old_end) - clock.elapsed_s) > 1e-6:
            return
        new_start = min(clock.started_at, start) if start is not None else clock.started_at
        new_end = min(old_end, end) if end is not None and end >= new_start else old_end
        if (new_start, new_end) == (clock.started_at, old_end):
            return
        target = self._target(s, "first_response", new_start) if new_start == s.opened_at else clock.target_s
        corrected = dataclasses.replace(clock, started_at=new_start, target_s=target if target is not None
                                        else clock.target_s, elapsed_s=calendar.business_seconds(new_start, new_end),
                                        last_change_at=new_end)
        s.first_measured = corrected
        outcome = "met" if corrected.elapsed_s <= corrected.target_s else "breached"
        out.append(Ended(corrected, new_end, corrected.elapsed_s, outcome, corrects=True))

    # -- events ----------------------------------------------------------------------------------

    def new_case(self, case: Mapping[str, Any]) -> CaseSla:
        s = CaseSla(case_id=str(case["id"]), status="open", policy="", priority=case["priority"],
                    department=case["department"], channel=case["channel"], public=case.get("public"),
                    tags=tuple(case.get("tags") or ()), opened_at=parse_rfc3339(case["opened_at"]),
                    first_response_due_at=_ts(case.get("first_response_due_at")))
        s.policy = self.resolve(case.get("sla_policy"), s.priority, s.department, s.channel, s.tags,
                                s.public).name
        return s

    def apply(self, s: CaseSla | None, event_type: str, data: Mapping[str, Any]) -> tuple[CaseSla | None, list[Effect]]:
        """The new state and the clock changes; raises KeyError/ValueError on a malformed event."""
        case = data["case"]
        at = parse_rfc3339(data["occurred_at"])
        response = data.get("response") or {}
        out: list[Effect] = []
        if s is None:
            s = self._bootstrap(case, event_type, response, at, out)
            if event_type == EventType.CASE_OPENED:
                return s, out
        if event_type == EventType.CASE_RESPONDED and response.get("automated"):
            return s, out  # bots change nothing: no stop, no pause
        if s.status == "resolved" and event_type != EventType.CASE_REOPENED:
            return s, out
        self._refresh(s, case, out)
        if event_type == EventType.CASE_MENTION_ADDED and case.get("status") == "pending":
            pass  # a post older than the brand's last reply, arriving late: the case still waits on the customer
        elif event_type == EventType.CASE_MENTION_ADDED:
            self._waiting_on_brand(s, at, out)
            if "response" not in s.clocks and s.first_responded:
                self._start(s, "next_response", at, out)
        elif event_type == EventType.CASE_RESPONDED:
            self._human_reply(s, _ts(response.get("created_at")) or at, out)
            if case.get("status") == "pending":
                self._waiting_on_customer(s, at, out)
        elif event_type == EventType.CASE_RESOLVED:
            if response and not response.get("automated") and "response" in s.clocks:
                self._human_reply(s, _ts(response.get("created_at")) or at, out)
            self._end(s, "response", at, out, answered=False)
            self._end(s, "autoclose", at, out, answered=False)
            self._end(s, "resolution", at, out, answered=True)
            s.status = "resolved"
        elif event_type == EventType.CASE_REOPENED:
            for slot in ("response", "autoclose", "resolution"):
                self._end(s, slot, at, out, answered=False)
            s.status = "open"
            self._start(s, "next_response" if s.first_responded else "first_response", at, out)
            self._start(s, "resolution", at, out)
        elif case.get("status") == "pending" and s.status == "open":
            self._waiting_on_customer(s, at, out)
        elif case.get("status") == "open" and s.status == "pending":
            self._waiting_on_brand(s, at, out)
        return s, out

    def _bootstrap(self, case: Mapping[str, Any], event_type: str, response: Mapping[str, Any], at: datetime,
                   out: list[Effect]) -> CaseSla:
        """A case first seen now: its state as of just before this event (best effort if not `opened`)."""
        s = self.new_case(case)
        first_now = bool(response.get("first")) and not response.get("automated")
        s.first_responded = event_type != EventType.CASE_OPENED and bool(case.get("first_response_at")) and not first_now
        if not s.first_responded:
            self._start(s, "first_response", s.opened_at, out)
        self._start(s, "resolution", s.opened_at, out)
        if event_type != EventType.CASE_OPENED and s.first_responded and event_type != EventType.CASE_MENTION_ADDED:
            self._waiting_on_customer(s, _ts(case.get("last_response_at")) or at, out)
        elif event_type == EventType.CASE_OPENED and case.get("status") == "pending":
            self._waiting_on_customer(s, at, out)
        return s

    def _refresh(self, s: CaseSla, case: Mapping[str, Any], out: list[Effect]) -> None:
        """Priority, department, channel, tags or the deadline changed: retarget the active clocks.

        The case's first post can move earlier (route learns of an older post that arrived
        late, and threads by event time): the clocks that ran from the old first post now run
        from the new one, with the time between counted as spent."""
        before = (s.priority, s.department, s.channel, s.tags, s.public, s.policy, s.first_response_due_at)
        s.priority, s.department, s.channel = case["priority"], case["department"], case["channel"]
        s.tags, s.public = tuple(case.get("tags") or ()), case.get("public")
        s.first_response_due_at = _ts(case.get("first_response_due_at"))
        s.policy = self.resolve(case.get("sla_policy"), s.priority, s.department, s.channel, s.tags,
                                s.public).name
        opened = _ts(case.get("opened_at"))
        moved = opened is not None and opened < s.opened_at
        if moved:
            for clock in s.clocks.values():
                if clock.cycle == 0 and clock.started_at == s.opened_at and clock.kind != "autoclose":
                    clock.start_earlier(opened, self.calendar(s, clock))
            s.opened_at = opened
            self._correct_first(s, out, start=opened)
        if not moved and before == (s.priority, s.department, s.channel, s.tags, s.public, s.policy,
                                    s.first_response_due_at):
            return
        for slot, clock in list(s.clocks.items()):
            target = self._target(s, clock.kind, clock.started_at)
            if target is None:
                self._end(s, slot, clock.last_change_at or clock.started_at, out, answered=False)
                continue
            clock.target_s = target
            out.append(self._armed(s, clock, new=False))

    def _human_reply(self, s: CaseSla, at: datetime, out: list[Effect]) -> None:
        clock = s.clocks.get("response")
        if clock is not None and at >= clock.started_at:  # a reply older than the clock answers an earlier post
            self._end(s, "response", at, out, answered=True)
            if clock.kind == "first_response":
                s.first_responded = True
        elif clock is None:
            s.first_responded = True
        self._correct_first(s, out, end=at)  # an earlier reply than the one that stopped it, arriving late

    def _waiting_on_customer(self, s: CaseSla, at: datetime, out: list[Effect]) -> None:
        s.status = "pending"
        for slot in ("response", "resolution"):
            clock = s.clocks.get(slot)
            if clock is not None and clock.pause(at, self.calendar(s, clock)):
                out.append(self._armed(s, clock, new=False))
        if "autoclose" not in s.clocks:
            self._start(s, "autoclose", at, out)

    def _waiting_on_brand(self, s: CaseSla, at: datetime, out: list[Effect]) -> None:
        s.status = "open"
        self._end(s, "autoclose", at, out, answered=False)
        for slot in ("response", "resolution"):
            clock = s.clocks.get(slot)
            if clock is not None and clock.resume(at):
                out.append(self._armed(s, clock, new=False))
