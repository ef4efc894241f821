"""Evaluate a rule set against the facts of one classified mention."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from services.route.rules.model import PRIORITIES, Condition, Decision, RuleSet

_RANK = {p: i for i, p in enumerate(PRIORITIES)}
_TAG_FACTS = {"hashtag": "hashtags", "mentioned": "mentioned", "stream_tag": "stream_tags"}


@lru_cache(maxsize=4096)
def _keyword(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)")


def _compare(actual: Any, op: str, expected: Any, field: str) -> bool:
    if field == "priority":  # buckets compare by rank, not alphabetically
        actual = _RANK.get(actual, -1)
        expected = tuple(_RANK[e] for e in expected) if isinstance(expected, tuple) else _RANK[expected]
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if actual is None:
        return False
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    if op == "lte":
        return bool(actual <= expected)
    raise ValueError(f"unknown operator {op}")


def holds(condition: Condition, facts: dict[str, Any]) -> bool:
    if condition.kind == "all":
        return all(holds(c, facts) for c in condition.children)
    if condition.kind == "any":
        return any(holds(c, facts) for c in condition.children)
    if condition.kind == "not":
        return not holds(condition.children[0], facts)
    field = condition.field
    if field == "flag":
        return bool(facts["flags"] & set(condition.value))
    if field == "entity":
        return bool(facts["entities"] & set(condition.value))
    if field in _TAG_FACTS:  # hashtag, mentioned, stream_tag: compared lower-case, without # or @
        return bool(facts[_TAG_FACTS[field]] & set(condition.value))
    if field == "entity_value":
        return bool(facts["entity_values"] & set(condition.value))
    if field == "keywords":
        return any(_keyword(word).search(facts["text"]) for word in condition.value)
    if field.startswith("department_score."):
        actual = facts["department_scores"].get(field.split(".", 1)[1], 0.0)
        return _compare(actual, condition.op, condition.value, field)
    return _compare(facts.get(field), condition.op, condition.value, field)


def decide(rules: RuleSet, facts: dict[str, Any]) -> Decision:
    """Apply the rules in order (see model.py for the semantics) and record why."""
    department = facts.get("department") if facts.get("department") in rules.departments else rules.departments[-1]
    departments: list[str] = [department]
    priority = facts.get("priority") if facts.get("priority") in _RANK else "normal"
    sla_policy = rules.default_sla_policy
    tags: list[str] = []
    matched: list[str] = []
    escalated: list[str] = []
    added: list[str] = []
    trace: list[str] = [f"start: department {department} (classifier), priority {priority}"]
    for rule in rules.rules:
        if not holds(rule.when, facts):
            continue
        matched.append(rule.name)
        then = rule.then
        if then.department:
            if then.department != department:
                trace.append(f"{rule.name}: owner {department} -> {then.department}")
                added.append(then.department)
            department = then.department
            if department in departments:
                departments.remove(department)
            departments.insert(0, department)
        for extra in then.also:
            if extra not in departments:
                departments.append(extra)
                added.append(extra)
                trace.append(f"{rule.name}: also {extra}")
        if then.priority and then.priority != priority:
            trace.append(f"{rule.name}: priority {priority} -> {then.priority}")
            priority = then.priority
        if then.priority_at_least and _RANK[then.priority_at_least] > _RANK[priority]:
            trace.append(f"{rule.name}: priority {priority} -> {then.priority_at_least} (at least)")
            priority = then.priority_at_least
        if then.sla_policy:
            sla_policy = then.sla_policy
            trace.append(f"{rule.name}: sla policy {sla_policy}")
        for tag in then.tags:
            if tag not in tags:
                tags.append(tag)
        if then.escalate:
            escalated.append(rule.name)
        if then.stop or rules.mode == "first_match":
            trace.append(f"{rule.name}: stop")
            break
    return Decision(department=department, departments=tuple(departments), priority=priority, sla_policy=sla_policy,
                    tags=tuple(tags), escalated_by=tuple(escalated), matched=tuple(matched),
                    added_by_rules=tuple(dict.fromkeys(added)), trace=tuple(trace))
