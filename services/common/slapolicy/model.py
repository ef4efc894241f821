"""The SLA policy model: what a policy promises, and the steps its clocks fire.

A `PolicyDefinition` is one entry of the policies file (targets per priority, calendar,
warnings, breach recipients, escalation chain, time-based rules). `PolicySet.select`
binds the first definition that applies to a case to the case's facts, giving a `Policy`
whose `due(kind, started_at)` and `steps(kind)` are all route and notify need. Everything
here is pure: no I/O, no clock, so route, notify and the backtest compute identical times.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from services.common.slapolicy.calendar import TWENTY_FOUR_SEVEN, Calendar
from services.common.slapolicy.durations import format_duration
from services.common.slapolicy.timing import SlaClock

KINDS = ("first_response", "next_response", "resolution")
RESPONSE_KINDS = ("first_response", "next_response")
PRIORITIES = ("critical", "high", "normal", "low")
ACTIONS = ("notify", "escalate", "reassign", "autoclose")
#: Channels where the customer's post is visible to everyone (when the case does not say).
PUBLIC_CHANNELS = frozenset({"x", "facebook", "instagram", "review", "blog", "forum"})
LEVEL_ORDER = {"warning": 0, "rule": 1, "breach": 2, "escalation": 3, "autoclose": 4}


@dataclasses.dataclass(frozen=True)
class CaseFacts:
    """What selection and `when` conditions look at: bounded, non-personal case attributes."""

    priority: str
    department: str = ""
    channel: str = "other"
    tags: tuple[str, ...] = ()
    public: bool | None = None

    @property
    def is_public(self) -> bool:
        return self.public if self.public is not None else self.channel in PUBLIC_CHANNELS


@dataclasses.dataclass(frozen=True)
class Condition:
    """Every given field must match (tags: any of them); an empty condition matches every case."""

    priorities: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    public: bool | None = None

    @property
    def empty(self) -> bool:
        return not (self.priorities or self.departments or self.channels or self.tags) and self.public is None

    def matches(self, facts: CaseFacts) -> bool:
        return ((not self.priorities or facts.priority in self.priorities)
                and (not self.departments or facts.department in self.departments)
                and (not self.channels or facts.channel in self.channels)
                and (not self.tags or bool(self.tags.intersection(facts.tags)))
                and (self.public is None or facts.is_public == self.public))


EVERY_CASE = Condition()


@dataclasses.dataclass(frozen=True)
class Recipient:
    role: str
    when: Condition = EVERY_CASE


def _roles(recipients: Iterable[Recipient], facts: CaseFacts) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.role for r in recipients if r.when.matches(facts)))


@dataclasses.dataclass(frozen=True)
class WarningSpec:
    """A warning at a share of the target (`warn_80`) or a reminder before the breach (`remind_15m`)."""

    share: float | None = None
    before_s: float | None = None
    notify: tuple[Recipient, ...] = ()
    timers: frozenset[str] = frozenset(KINDS)

    @property
    def name(self) -> str:
        if self.share is not None:
            return f"warn_{round(self.share * 100)}"
        return f"remind_{format_duration(self.before_s or 0)}"

    def offset(self, target_s: float) -> float:
        return self.share * target_s if self.share is not None else target_s - (self.before_s or 0)


@dataclasses.dataclass(frozen=True)
class EscalationSpec:
    """A step of the chain after the breach: at a multiple of the target or some time after the breach."""

    name: str
    multiple: float | None = None
    after_breach_s: float | None = None
    notify: tuple[Recipient, ...] = ()
    when: Condition = EVERY_CASE
    timers: frozenset[str] = frozenset(KINDS)
    action: str = "escalate"

    def offset(self, target_s: float) -> float:
        return self.multiple * target_s if self.multiple is not None else target_s + (self.after_breach_s or 0)


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    """A time-based rule: `after` business seconds on a response clock (or, for autoclose, of waiting)."""

    name: str
    action: str
    after_s: float
    notify: tuple[Recipient, ...] = ()
    when: Condition = EVERY_CASE
    timers: frozenset[str] = frozenset(RESPONSE_KINDS)
    business_hours: bool = False  # autoclose only: count the policy's open hours, not calendar time


@dataclasses.dataclass(frozen=True)
class Step:
    """One threshold of one clock: fires once per (case, clock, cycle, name)."""

    name: str
    offset_s: float
    level: str
    notify: tuple[str, ...] = ()
    action: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "offset_s": self.offset_s, "level": self.level, "notify": list(self.notify),
                "action": self.action}

    @functools.cached_property
    def fields(self) -> dict[str, object]:
        """`as_dict()` built once and shared, read-only: notify stores the steps of every
        clock it arms or retargets, and the same few steps recur for every case."""
        return self.as_dict()


@dataclasses.dataclass(frozen=True)
class PolicyDefinition:
    name: str
    calendar: Calendar = TWENTY_FOUR_SEVEN
    applies_to: Condition = EVERY_CASE
    targets: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    warnings: tuple[WarningSpec, ...] = ()
    warning_min_lead_s: float = 60.0
    breach_notify: tuple[Recipient, ...] = ()
    escalation: tuple[EscalationSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    description: str = ""

    def target(self, kind: str, priority: str) -> float | None:
        return self.targets.get(kind, {}).get(priority)

    def steps(self, kind: str, target_s: float, facts: CaseFacts) -> list[Step]:
        """The thresholds of one clock in firing order."""
        steps: list[Step] = []
        for w in self.warnings:
            offset = w.offset(target_s)
            lead = target_s - offset
            # A warning nobody can act on before the breach is noise: skip it.
            if kind in w.timers and offset > 0 and (w.before_s is not None or lead >= self.warning_min_lead_s):
                steps.append(Step(w.name, offset, "warning", _roles(w.notify, facts)))
        steps.append(Step("breach", target_s, "breach", _roles(self.breach_notify, facts)))
        for e in self.escalation:
            if kind in e.timers and e.when.matches(facts):
                steps.append(Step(e.name, e.offset(target_s), "escalation", _roles(e.notify, facts), e.action))
        for r in self.rules:
            if r.action != "autoclose" and kind in r.timers and r.when.matches(facts):
                steps.append(Step(r.name, r.after_s, "rule", _roles(r.notify, facts), r.action))
        steps.sort(key=lambda s: (s.offset_s, LEVEL_ORDER[s.level]))
        return steps

    def autoclose(self, facts: CaseFacts) -> tuple[Step, Calendar] | None:
        """The auto-close step of a case waiting on the customer, and the calendar it counts on."""
        for r in self.rules:
            if r.action == "autoclose" and r.when.matches(facts):
                return (Step(r.name, r.after_s, "autoclose", _roles(r.notify, facts), "autoclose"),
                        self.calendar if r.business_hours else TWENTY_FOUR_SEVEN)
        return None


@dataclasses.dataclass(frozen=True)
class Policy:
    """A definition bound to one case's facts: what route stamps and notify runs."""

    definition: PolicyDefinition
    facts: CaseFacts

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def calendar(self) -> Calendar:
        return self.definition.calendar

    def target(self, kind: str) -> float | None:
        """Business seconds allowed for `kind` at the case's priority (None: no such clock)."""
        return self.definition.target(kind, self.facts.priority)

    def due(self, kind: str, started_at: datetime,
            pauses: Sequence[tuple[datetime, datetime | None]] = ()) -> datetime | None:
        """When a `kind` clock started at `started_at` (event time) breaches, given its pauses.

        `pauses` are (paused_at, resumed_at) pairs in order; a last pair without resume
        means the clock is paused now and has no due time (None). A pause that starts after
        the target was already reached moves nothing: the breach happened before it, so a
        report that passes a case's whole history gets the breach time, not a resume time.
        """
        target = self.target(kind)
        if target is None:
            return None
        clock = SlaClock.start(kind, 0, started_at, target)
        for paused_at, resumed_at in pauses:
            reached = clock.due(self.calendar)
            if reached is not None and reached <= paused_at:
                return reached
            clock.pause(paused_at, self.calendar)
            if resumed_at is None:
                return None
            clock.resume(resumed_at)
        return clock.due(self.calendar)

    def steps(self, kind: str, target_s: float | None = None) -> list[Step]:
        target = self.target(kind) if target_s is None else target_s
        return [] if target is None else self.definition.steps(kind, target, self.facts)

    def autoclose(self) -> tuple[Step, Calendar] | None:
        return self.definition.autoclose(self.facts)


@dataclasses.dataclass(frozen=True)
class PolicySet:
    """Every policy of a file in order, the recipients of notifications, and where they came from."""

    policies: tuple[PolicyDefinition, ...]
    recipients: Mapping[str, Mapping[str, tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    calendars: Mapping[str, Calendar] = dataclasses.field(default_factory=dict)
    source: str = "<memory>"

    def names(self) -> list[str]:
        return [p.name for p in self.policies]

    def definition(self, name: str) -> PolicyDefinition | None:
        return next((p for p in self.policies if p.name == name), None)

    def select(self, priority: str, department: str = "", channel: str = "other", tags: Sequence[str] = (),
               public: bool | None = None) -> Policy:
        """The first policy (file order) that applies to a case with these facts."""
        facts = CaseFacts(priority, department, channel, tuple(tags), public)
        for p in self.policies:
            if p.applies_to.matches(facts):
                return Policy(p, facts)
        return Policy(self.policies[-1], facts)  # validation guarantees a catch-all; belt and braces

    def get(self, name: str, priority: str, department: str = "", channel: str = "other", tags: Sequence[str] = (),
            public: bool | None = None) -> Policy | None:
        definition = self.definition(name)
        return None if definition is None else Policy(definition, CaseFacts(priority, department, channel,
                                                                            tuple(tags), public))

    def resolve(self, name: str | None, priority: str, department: str = "", channel: str = "other",
                tags: Sequence[str] = (), public: bool | None = None) -> Policy:
        """The policy a case names (route's rules may pick one), else the selected one."""
        named = self.get(name, priority, department, channel, tags, public) if name else None
        return named or self.select(priority, department, channel, tags, public)

    def targets_for(self, role: str, department: str) -> tuple[str, ...]:
        """Where a role is reached for a department (its own entry, else `*`)."""
        by_department = self.recipients.get(role, {})
        return by_department.get(department, by_department.get("*", ()))

    def with_first_response_targets(self, targets: Mapping[str, float], policy: str = "default") -> PolicySet:
        """A copy whose `policy` (else the catch-all) uses these first-response seconds per priority.

        This keeps `HEATDESK_SLA_FIRST_RESPONSE_TARGETS` meaningful on top of a policies file.
        """
        chosen = self.definition(policy) or next((p for p in reversed(self.policies) if p.applies_to.empty), None)
        if chosen is None or not targets:
            return self
        new_targets = {k: dict(v) for k, v in chosen.targets.items()}
        new_targets["first_response"] = {**new_targets.get("first_response", {}), **targets}
        replaced = dataclasses.replace(chosen, targets=new_targets)
        return dataclasses.replace(self, policies=tuple(replaced if p is chosen else p for p in self.policies))
