"""Load and validate a rules file; every problem is reported with file, rule and field.

A rules file is operator-written configuration (a ConfigMap in production): a typo must
be refused at load with a message that points at the line to fix, never discovered when
the first complaint is misrouted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.common.validation import InvalidConfigFile, Problems
from services.route.rules.model import PRIORITIES, Actions, Condition, Rule, RuleSet

#: Fields a leaf can test, with the kind of value each holds.
FIELDS: dict[str, str] = {
    "channel": "str", "language": "str", "kind": "str", "intent": "str", "sentiment": "str", "department": "str",
    "priority": "priority", "followers": "number", "verified": "bool", "sentiment_score": "number",
    "priority_score": "number", "repeat_cases": "number", "repeat_complaints": "number", "reposts": "number",
    "flag": "set", "entity": "set", "hashtag": "tags", "mentioned": "tags", "stream_tag": "tags",
    "keywords": "keywords", "department_score": "scores", "entity_value": "pairs",
}
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
STR_OPS = ("eq", "ne", "in")


class RulesError(InvalidConfigFile):
    """A rules file is invalid. The message lists every problem as `file: rule 'name': field: what`.

    The service keeps its last good rules; fix the file and it is reloaded by itself.
    """


def _leaf(field: str, spec: Any, where: str, problems: Problems) -> Condition:
    kind = FIELDS.get(field)
    if kind is None:
        problems.add(where, f"unknown field {field!r}; one of {', '.join(sorted(FIELDS))}")
        return Condition("leaf", field, "eq", spec)
    if kind in ("set", "keywords", "tags"):
        values = spec if isinstance(spec, list) else [spec]
        if not values or not all(isinstance(v, str) and v for v in values):
            problems.add(f"{where}.{field}", "expects a name or a list of names")
        if kind == "tags":
            return Condition("leaf", field, "any", tuple(str(v).lower().lstrip("#@") for v in values))
        return Condition("leaf", field, "any", tuple(str(v).lower() if kind == "keywords" else v for v in values))
    if kind == "scores":
        if not isinstance(spec, dict) or not spec:
            problems.add(f"{where}.{field}", "expects {department: {gte: 0.5}}")
            return Condition("leaf", field, "scores", {})
        return Condition("all", children=tuple(
            Condition("leaf", f"department_score.{dept}", op, value)
            for dept, ops in spec.items() for op, value in _ops(ops, "number", f"{where}.{field}.{dept}", problems)))
    if kind == "pairs":
        if not isinstance(spec, dict) or not spec:
            problems.add(f"{where}.{field}", "expects {label: value}")
            return Condition("leaf", field, "any", ())
        return Condition("leaf", field, "any", tuple((str(k), str(v).lower()) for k, v in spec.items()))
    if isinstance(spec, dict):
        ops = _ops(spec, kind, f"{where}.{field}", problems)
        if len(ops) == 1:
            return Condition("leaf", field, ops[0][0], ops[0][1])
        return Condition("all", children=tuple(Condition("leaf", field, op, value) for op, value in ops))
    if isinstance(spec, list):
        _check_values(spec, kind, f"{where}.{field}", problems)
        return Condition("leaf", field, "in", tuple(spec))
    _check_values([spec], kind, f"{where}.{field}", problems)
    return Condition("leaf", field, "eq", spec)


def _ops(spec: Any, kind: str, where: str, problems: Problems) -> list[tuple[str, Any]]:
    if not isinstance(spec, dict):
        problems.add(where, "expects operators such as {gte: 10}")
        return []
    allowed = NUMBER_OPS if kind in ("number", "priority") else STR_OPS
    out = []
    for op, value in spec.items():
        if op not in allowed:
            problems.add(where, f"unknown operator {op!r}; one of {', '.join(allowed)}")
            continue
        _check_values(value if op == "in" and isinstance(value, list) else [value], kind, where, problems)
        out.append((op, tuple(value) if isinstance(value, list) else value))
    return out


def _check_values(values: list[Any], kind: str, where: str, problems: Problems) -> None:
    for value in values:
        if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.add(where, f"{value!r} is not a number")
        elif kind == "bool" and not isinstance(value, bool):
            problems.add(where, f"{value!r} is not true/false")
        elif kind == "priority" and value not in PRIORITIES:
            problems.add(where, f"{value!r} is not a priority ({', '.join(PRIORITIES)})")
        elif kind == "str" and not isinstance(value, str):
            problems.add(where, f"{value!r} is not a string")


def _condition(spec: Any, where: str, problems: Problems) -> Condition:
    if not isinstance(spec, dict) or len(spec) != 1:
        problems.add(where, "a condition is one mapping: {all: [...]}, {any: [...]}, {not: {...}} or {field: test}")
        return Condition("all")
    (key, value), = spec.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            problems.add(f"{where}.{key}", "expects a non-empty list of conditions")
            return Condition(key)
        return Condition(key, children=tuple(_condition(c, f"{where}.{key}[{i}]", problems) for i, c in enumerate(value)))
    if key == "not":
        return Condition("not", children=(_condition(value, f"{where}.not", problems),))
    return _leaf(key, value, where, problems)


def _strings(value: Any, where: str, problems: Problems) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in values):
        problems.add(where, "expects a name or a list of names")
        return ()
    return tuple(values)


def _actions(spec: Any, where: str, departments: tuple[str, ...], problems: Problems) -> Actions:
    if not isinstance(spec, dict) or not spec:
        problems.add(where, "expects actions such as {department: billing}")
        return Actions()
    known = {"department", "also", "priority", "priority_at_least", "sla_policy", "tags", "escalate", "stop"}
    for key in set(spec) - known:
        problems.add(f"{where}.{key}", f"unknown action; one of {', '.join(sorted(known))}")
    for key in ("priority", "priority_at_least"):
        if key in spec and spec[key] not in PRIORITIES:
            problems.add(f"{where}.{key}", f"{spec[key]!r} is not a priority ({', '.join(PRIORITIES)})")
    department = spec.get("department")
    also = _strings(spec["also"], f"{where}.also", problems) if "also" in spec else ()
    for name in ([department] if department else []) + list(also):
        if name not in departments:
            problems.add(f"{where}", f"department {name!r} is not declared under `departments:`")
    for key in ("escalate", "stop"):
        if key in spec and not isinstance(spec[key], bool):
            problems.add(f"{where}.{key}", "expects true or false")
    if "sla_policy" in spec and not (isinstance(spec["sla_policy"], str) and spec["sla_policy"]):
        problems.add(f"{where}.sla_policy", "expects a policy name")
    return Actions(department=department, also=also, priority=spec.get("priority"),
                   priority_at_least=spec.get("priority_at_least"), sla_policy=spec.get("sla_policy"),
                   tags=_strings(spec["tags"], f"{where}.tags", problems) if "tags" in spec else (),
                   escalate=bool(spec.get("escalate", False)), stop=bool(spec.get("stop", False)))


def parse_rules(document: Any, source: str) -> RuleSet:
    """Validate a parsed YAML document; raise RulesError listing every problem."""
    problems = Problems(source)
    if not isinstance(document, dict):
        raise RulesError([f"{source}: the file must be a mapping with `rules:`"])
    for key in set(document) - {"version", "mode", "departments", "default_sla_policy", "rules"}:
        problems.add(key, "unknown top-level key")
    if document.get("version", 1) != 1:
        problems.add("version", "only version 1 is understood")
    mode = document.get("mode", "accumulate")
    if mode not in ("accumulate", "first_match"):
        problems.add("mode", "accumulate or first_match")
    departments = _strings(document.get("departments", ["billing", "product", "pr", "support"]), "departments", problems)
    if not departments and not any("departments" in p for p in problems.items):
        problems.add("departments", "expects at least one department (an empty list would refuse every mention)")
    rules: list[Rule] = []
    names: set[str] = set()
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list):
        problems.add("rules", "expects a list of rules")
        raw_rules = []
    for i, raw in enumerate(raw_rules):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"rule {name!r}" if name else f"rules[{i}]"
        if not isinstance(raw, dict):
            problems.add(where, "a rule is a mapping with name, when, then")
            continue
        if not isinstance(name, str) or not name:
            problems.add(where, "name is required")
        elif name in names:
            problems.add(where, "duplicate rule name")
        names.add(str(name))
        for key in set(raw) - {"name", "when", "then", "description"}:
            problems.add(f"{where}.{key}", "unknown key; a rule has name, description, when, then")
        if "when" not in raw or "then" not in raw:
            problems.add(where, "needs both `when` and `then`")
            continue
        rules.append(Rule(str(name), _condition(raw["when"], f"{where}.when", problems),
                          _actions(raw["then"], f"{where}.then", departments, problems)))
    if problems.items:
        raise RulesError(problems.items)
    return RuleSet(tuple(rules), mode, str(document.get("default_sla_policy", "default")), departments, source)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules at `path`, or the shipped defaults."""
    if path is None:
        from importlib import resources

        text = resources.files("services.route").joinpath("config", "rules.yaml").read_text()
        source = "<shipped rules.yaml>"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise RulesError([f"{path}: cannot be read: {exc.strerror}"]) from exc
        source = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError([f"{source}: not valid YAML: {exc}"]) from exc
    return parse_rules(document, source)
