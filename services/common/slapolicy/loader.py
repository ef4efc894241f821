"""Load and validate a policies file; every problem names the file, the policy and the field.

The file is operator-written configuration (a ConfigMap in production). A typo must be
refused at load with a message that points at what to fix - `policies.yaml: policy
'billing': targets.first_response.critical: '15x' is not a duration (like 90s, 15m, 4h,
2d)` - and every problem is listed at once, not the first only.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.common.channels import CHANNELS
from services.common.slapolicy import calendar as cal
from services.common.slapolicy.durations import parse_duration, parse_multiple, parse_share
from services.common.slapolicy.model import (
    ACTIONS,
    EVERY_CASE,
    KINDS,
    PRIORITIES,
    RESPONSE_KINDS,
    Condition,
    EscalationSpec,
    PolicyDefinition,
    PolicySet,
    Recipient,
    RuleSpec,
    WarningSpec,
)
from services.common.validation import InvalidConfigFile, Problems

DEFAULT_FILE = "default_policies.yaml"
TOP_KEYS = {"version", "calendars", "recipients", "policies"}
POLICY_KEYS = {"name", "description", "calendar", "applies_to", "targets", "warnings", "warning_min_lead", "breach",
               "escalation", "rules"}
CONDITION_KEYS = {"priority", "department", "channel", "tags", "public"}
TARGET_PREFIXES = ("webhook", "webhook:", "email:")


class _Loader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so a bad holiday is reported by its place, not as a crash."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class PolicyError(InvalidConfigFile):
    """A policies file is invalid. `problems` lists each as `file: policy 'name': field: what`.

    At start the service refuses to run; on reload it keeps the last good policies. Fix the
    file (or run `heatdesk sla check FILE`) and it is picked up by itself.
    """


def _names(raw: Any, where: str, problems: Problems, allowed: tuple[str, ...] | None = None) -> frozenset[str]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) and v for v in values):
        problems.add(where, "expects a name or a list of names")
        return frozenset()
    if allowed is not None:
        unknown = [v for v in values if v not in allowed]
        if unknown:
            problems.add(where, f"unknown {', '.join(map(repr, unknown))}; one of {', '.join(allowed)}")
    return frozenset(values)


def _condition(raw: Any, where: str, problems: Problems) -> Condition:
    if raw is None:
        return EVERY_CASE
    if not isinstance(raw, dict):
        problems.add(where, "expects a mapping of priority, department, channel, tags, public")
        return EVERY_CASE
    for key in sorted(set(raw) - CONDITION_KEYS):
        problems.add(f"{where}.{key}", f"unknown field; one of {', '.join(sorted(CONDITION_KEYS))}")
    public = raw.get("public")
    if public is not None and not isinstance(public, bool):
        problems.add(f"{where}.public", "expects true or false")
        public = None
    return Condition(
        priorities=_names(raw["priority"], f"{where}.priority", problems, PRIORITIES) if "priority" in raw else frozenset(),
        departments=_names(raw["department"], f"{where}.department", problems) if "department" in raw else frozenset(),
        channels=_names(raw["channel"], f"{where}.channel", problems, CHANNELS) if "channel" in raw else frozenset(),
        tags=_names(raw["tags"], f"{where}.tags", problems) if "tags" in raw else frozenset(),
        public=public)


def _recipients(raw: Any, where: str, roles: set[str], problems: Problems) -> tuple[Recipient, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(where, "expects a list of roles, e.g. [team_lead, {role: pr, when: {public: true}}]")
        return ()
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if isinstance(item, dict):
            for key in sorted(set(item) - {"role", "when"}):
                problems.add(f"{at}.{key}", "unknown field; one of role, when")
            role, when = item.get("role"), _condition(item.get("when"), f"{at}.when", problems)
        else:
            role, when = item, EVERY_CASE
        if not isinstance(role, str) or not role:
            problems.add(at, "expects a role name")
            continue
        if role not in roles:
            problems.add(at, f"unknown role {role!r}; declare it under recipients ({', '.join(sorted(roles)) or 'none'})")
        out.append(Recipient(role, when))
    return tuple(out)


def _calendar(name: str, raw: Any, problems: Problems) -> cal.Calendar:
    where = f"calendar {name!r}"
    if not isinstance(raw, dict):
        problems.add(where, "expects a mapping with timezone, hours and holidays")
        return cal.TWENTY_FOUR_SEVEN
    for key in sorted(set(raw) - {"timezone", "hours", "holidays"}):
        problems.add(f"{where}: {key}", "unknown field; one of timezone, hours, holidays")
    timezone = raw.get("timezone", "UTC")
    hours = raw.get("hours", "24/7")
    weekly: list[tuple[tuple[int, int], ...]] = [()] * 7
    if hours == "24/7":
        weekly = [cal.ALL_DAY] * 7
    elif isinstance(hours, dict) and hours:
        for days_spec, ranges_spec in hours.items():
            days = problems.value(f"{where}: hours.{days_spec}", cal.parse_days, str(days_spec))
            ranges = problems.value(f"{where}: hours.{days_spec}", cal.parse_ranges, ranges_spec)
            for d in days or []:
                weekly[d] = ranges or ()
    else:
        problems.add(f"{where}: hours", "expects 24/7 or a mapping like {mon-fri: 09:00-17:00, sat: 10:00-14:00}")
    holidays = set()
    for i, item in enumerate(raw.get("holidays") or []):
        if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
            holidays.add(item)
            continue
        try:
            holidays.add(dt.date.fromisoformat(str(item)))
        except ValueError:
            problems.add(f"{where}: holidays[{i}]", f"{item!r} is not a date like 2026-12-25")
    if not isinstance(timezone, str):
        problems.add(f"{where}: timezone", "expects an IANA time zone name such as Europe/London")
        timezone = "UTC"
    try:
        return cal.Calendar(name, timezone, tuple(weekly), frozenset(holidays))
    except cal.CalendarError as exc:
        problems.add(where, str(exc).split(": ", 1)[-1])
        return cal.TWENTY_FOUR_SEVEN


def _targets(raw: Any, where: str, problems: Problems) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    if not isinstance(raw, dict):
        problems.add(where, "expects {first_response: {critical: 15m, ...}, next_response: ..., resolution: ...}")
        return out
    for kind, spec in raw.items():
        at = f"{where}.{kind}"
        if kind not in KINDS:
            problems.add(at, f"unknown clock; one of {', '.join(KINDS)}")
            continue
        if isinstance(spec, dict):
            for priority in sorted(set(spec) - set(PRIORITIES)):
                problems.add(f"{at}.{priority}", f"unknown priority; one of {', '.join(PRIORITIES)}")
            per = {p: problems.value(f"{at}.{p}", parse_duration, spec[p]) for p in PRIORITIES if p in spec}
        else:
            seconds = problems.value(at, parse_duration, spec)
            per = dict.fromkeys(PRIORITIES, seconds)
        out[kind] = {p: v for p, v in per.items() if v is not None}
    missing = [p for p in PRIORITIES if p not in out.get("first_response", {})]
    if "first_response" in raw and missing and isinstance(raw.get("first_response"), dict):
        problems.add(f"{where}.first_response", f"needs every priority; missing {', '.join(missing)}")
    elif "first_response" not in raw:
        problems.add(f"{where}.first_response", "is required (route stamps it on every case)")
    return out


def _warnings(raw: Any, where: str, roles: set[str], problems: Problems) -> tuple[WarningSpec, ...]:
    out = []
    for i, item in enumerate(raw or []):
        at = f"{where}[{i}]"
        spec = item if isinstance(item, dict) else {"at": item}
        if isinstance(item, str) and item.strip().endswith(" before"):
            spec = {"before": item.strip()[: -len(" before")]}
        for key in sorted(set(spec) - {"at", "before", "notify", "timers"}):
            problems.add(f"{at}.{key}", "unknown field; one of at, before, notify, timers")
        if ("at" in spec) == ("before" in spec):
            problems.add(at, "give either at (80%) or before (15m)")
            continue
        timers = _names(spec["timers"], f"{at}.timers", problems, KINDS) if "timers" in spec else frozenset(KINDS)
        notify = _recipients(spec.get("notify"), f"{at}.notify", roles, problems)
        if "at" in spec:
            share = problems.value(f"{at}.at", parse_share, spec["at"])
            if share is not None:
                out.append(WarningSpec(share=share, notify=notify, timers=timers))
        else:
            before = problems.value(f"{at}.before", parse_duration, spec["before"])
            if before is not None:
                out.append(WarningSpec(before_s=before, notify=notify, timers=timers))
    return tuple(out)


def _escalation(raw: Any, where: str, roles: set[str], problems: Problems) -> tuple[EscalationSpec, ...]:
    out = []
    if raw is not None and not isinstance(raw, list):
        problems.add(where, "expects a list of steps")
        return ()
    for i, item in enumerate(raw or []):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item.get("name"):
            problems.add(at, "expects {name, at: 2x | after_breach: 1h, notify: [roles]}")
            continue
        at = f"{where}[{item['name']}]"
        for key in sorted(set(item) - {"name", "at", "after_breach", "notify", "when", "timers", "action"}):
            problems.add(f"{at}.{key}", "unknown field; one of name, at, after_breach, notify, when, timers, action")
        if ("at" in item) == ("after_breach" in item):
            problems.add(at, "give either at (2x, 200%) or after_breach (1h)")
            continue
        action = item.get("action", "escalate")
        if action not in ("notify", "escalate", "reassign"):
            problems.add(f"{at}.action", f"{action!r} is not one of notify, escalate, reassign")
        multiple = problems.value(f"{at}.at", parse_multiple, item["at"]) if "at" in item else None
        after = problems.value(f"{at}.after_breach", parse_duration, item["after_breach"]) if "after_breach" in item else None
        if multiple is None and after is None:
            continue
        out.append(EscalationSpec(
            item["name"], multiple, after, _recipients(item.get("notify"), f"{at}.notify", roles, problems),
            _condition(item.get("when"), f"{at}.when", problems),
            _names(item["timers"], f"{at}.timers", problems, KINDS) if "timers" in item else frozenset(KINDS), action))
    return tuple(out)


def _rules(raw: Any, where: str, roles: set[str], problems: Problems) -> tuple[RuleSpec, ...]:
    out = []
    if raw is not None and not isinstance(raw, list):
        problems.add(where, "expects a list of rules")
        return ()
    for i, item in enumerate(raw or []):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item.get("name"):
            problems.add(at, "expects {name, after: 30m, action: reassign | escalate | notify | autoclose}")
            continue
        at = f"{where}[{item['name']}]"
        for key in sorted(set(item) - {"name", "after", "action", "notify", "when", "timers", "business_hours"}):
            problems.add(f"{at}.{key}", "unknown field; one of name, after, action, notify, when, timers, business_hours")
        action = item.get("action")
        if action not in ACTIONS:
            problems.add(f"{at}.action", f"{action!r} is not one of {', '.join(ACTIONS)}")
            continue
        after = problems.value(f"{at}.after", parse_duration, item.get("after"))
        if action == "autoclose" and "timers" in item:
            problems.add(f"{at}.timers", "autoclose counts the time a case waits on the customer; it has no timers")
        timers = (_names(item["timers"], f"{at}.timers", problems, RESPONSE_KINDS)
                  if "timers" in item and action != "autoclose" else frozenset(RESPONSE_KINDS))
        business_hours = item.get("business_hours", False)
        if not isinstance(business_hours, bool):
            problems.add(f"{at}.business_hours", "expects true or false")
        if after is not None:
            out.append(RuleSpec(item["name"], action, after, _recipients(item.get("notify"), f"{at}.notify", roles,
                                                                         problems),
                                _condition(item.get("when"), f"{at}.when", problems), timers, business_hours is True))
    if sum(r.action == "autoclose" and r.when.empty for r in out) > 1:
        problems.add(where, "more than one autoclose rule applies to every case")
    return tuple(out)


def _policy(raw: Any, index: int, calendars: dict[str, cal.Calendar], roles: set[str], problems: Problems
            ) -> PolicyDefinition | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw.get("name"):
        problems.add(f"policies[{index}]", "expects a mapping with a name")
        return None
    where = f"policy {raw['name']!r}"
    for key in sorted(set(raw) - POLICY_KEYS):
        problems.add(f"{where}: {key}", f"unknown field; one of {', '.join(sorted(POLICY_KEYS))}")
    cal_name = raw.get("calendar", "24/7")
    calendar = cal.TWENTY_FOUR_SEVEN if cal_name == "24/7" else calendars.get(cal_name)
    if calendar is None:
        problems.add(f"{where}: calendar", f"unknown calendar {cal_name!r}; one of 24/7, {', '.join(sorted(calendars))}")
        calendar = cal.TWENTY_FOUR_SEVEN
    sub = Problems(f"{problems.source}: {where}")
    min_lead = sub.value("warning_min_lead", parse_duration, raw["warning_min_lead"]) if "warning_min_lead" in raw else 60.0
    breach = raw.get("breach") or {}
    if not isinstance(breach, dict) or set(breach) - {"notify"}:
        sub.add("breach", "expects {notify: [roles]}")
        breach = {}
    definition = PolicyDefinition(
        name=raw["name"], calendar=calendar, applies_to=_condition(raw.get("applies_to"), "applies_to", sub),
        targets=_targets(raw.get("targets"), "targets", sub),
        warnings=_warnings(raw.get("warnings"), "warnings", roles, sub),
        warning_min_lead_s=min_lead if min_lead is not None else 60.0,
        breach_notify=_recipients(breach.get("notify"), "breach.notify", roles, sub),
        escalation=_escalation(raw.get("escalation"), "escalation", roles, sub),
        rules=_rules(raw.get("rules"), "rules", roles, sub), description=str(raw.get("description", "")))
    names = ([w.name for w in definition.warnings] + ["breach"] + [e.name for e in definition.escalation]
             + [r.name for r in definition.rules])
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        sub.add("steps", f"step names must be unique within a policy; repeated: {', '.join(duplicates)}")
    problems.items.extend(sub.items)
    return definition


def _recipient_map(raw: Any, problems: Problems) -> dict[str, dict[str, tuple[str, ...]]]:
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        problems.add("recipients", "expects {role: [targets]} or {role: {department: [targets], '*': [targets]}}")
        return out
    for role, spec in raw.items():
        per = spec if isinstance(spec, dict) else {"*": spec}
        out[str(role)] = {}
        for department, targets in per.items():
            at = f"recipients.{role}" + ("" if spec is not per else f".{department}")
            items = targets or []
            if not isinstance(items, list):
                problems.add(at, "expects a list of targets")
                continue
            for t in items:
                if not isinstance(t, str) or not (t == "webhook" or t.startswith(TARGET_PREFIXES[1:])) or t.endswith(":"):
                    problems.add(at, f"{t!r} is not a target; use webhook, webhook:https://…, email:someone@example.com")
                elif t.startswith("email:") and "@" not in t:
                    problems.add(at, f"{t!r} is not an e-mail address")
            out[str(role)][str(department)] = tuple(t for t in items if isinstance(t, str))
    return out


def parse_policies(doc: Any, source: str) -> PolicySet:
    """Validate a parsed document; raise PolicyError listing every problem.

    A field of a wrong type deep in a definition surfaces as TypeError/AttributeError from the
    part that reads it; it is reported as a problem of the file, never a crash of the reload.
    """
    try:
        return _parse_policies(doc, source)
    except (TypeError, AttributeError, KeyError) as exc:
        raise PolicyError([f"{source}: a field has the wrong type ({type(exc).__name__}: {exc})"]) from exc


def _parse_policies(doc: Any, source: str) -> PolicySet:
    problems = Problems(source)
    if not isinstance(doc, dict):
        raise PolicyError([f"{source}: expects a mapping with version, calendars, recipients, policies"])
    for key in sorted(set(doc) - TOP_KEYS):
        problems.add(key, f"unknown field; one of {', '.join(sorted(TOP_KEYS))}")
    if doc.get("version") != 1:
        problems.add("version", f"{doc.get('version')!r} is not a supported version (1)")
    raw_calendars = doc.get("calendars") or {}
    if not isinstance(raw_calendars, dict):
        problems.add("calendars", "expects a mapping of calendar names to calendars")
        raw_calendars = {}
    calendars = {str(name): _calendar(str(name), spec, problems) for name, spec in raw_calendars.items()}
    recipients = _recipient_map(doc.get("recipients"), problems)
    raw_policies = doc.get("policies")
    if not isinstance(raw_policies, list) or not raw_policies:
        problems.add("policies", "expects a non-empty list of policies")
        raise PolicyError(problems.items)
    policies = [p for i, raw in enumerate(raw_policies)
                if (p := _policy(raw, i, calendars, set(recipients), problems)) is not None]
    names = [p.name for p in policies]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.add(f"policy {name!r}", "is defined more than once")
    if policies and not any(p.applies_to.empty for p in policies):
        problems.add("policies", "no policy applies to every case; end the list with one without applies_to")
    if problems.items:
        raise PolicyError(problems.items)
    return PolicySet(tuple(policies), recipients, calendars, source)


def load_policies(path: Path | str | None = None) -> PolicySet:
    """The policies of `path`, or the shipped defaults when None; PolicyError when invalid."""
    if path is None:
        text = resources.files("services.common.slapolicy").joinpath(DEFAULT_FILE).read_text()
        source = f"<shipped {DEFAULT_FILE}>"
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError([f"{source}: cannot be read: {exc.strerror}"]) from exc
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise PolicyError([f"{source}: {where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    return parse_policies(doc, source)


__all__ = ["PolicyError", "load_policies", "parse_policies"]
