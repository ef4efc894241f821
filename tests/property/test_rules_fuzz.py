"""Property-based tests of the routing rules loader (`parse_rules`, `load_rules`).

A rules file is operator-written YAML, reloaded while route runs: whatever it holds, the
loader answers with a `RuleSet` or a `RulesError` that lists problems - never another
exception, which would take the reload loop (or `heatdesk rules check`) down instead of
keeping the last good rules. A `RuleSet` it accepts is one route can use: evaluating it
(`decide`, as route does) on classified mentions - full, sparse, empty - decides declared
departments and a known priority.

Inputs: arbitrary YAML-able documents; documents shaped like rules files (the grammar's
keys with arbitrary values); single-point mutations of the shipped rules file; and
arbitrary text as a file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.route.rules.facts import facts
from services.route.rules.load import FIELDS, RulesError, load_rules, parse_rules
from services.route.rules.match import decide
from services.route.rules.model import PRIORITIES, RuleSet
from tests.property.documents import mutated, paths
from tests.property.test_ingest_fuzz import json_values

SHIPPED = yaml.safe_load(resources.files("services.route").joinpath("config", "rules.yaml").read_text())
ACTIONS = ["department", "also", "priority", "priority_at_least", "sla_policy", "tags", "escalate", "stop"]
scalars = (st.none() | st.booleans() | st.integers(-5, 20_000) | st.floats(allow_nan=True) | st.text(max_size=12)
           | st.sampled_from(["billing", "pr", "legal", "critical", "high", "low", "complaint", "escalation_threat",
                              "x", "email", "gt", "gte", "in", "eq"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["gt", "gte", "lt", "eq", "ne", "in", "billing", "x"]) | st.text(
                          max_size=6), inner, max_size=3), max_leaves=8)
conditions = st.recursive(
    st.dictionaries(st.sampled_from(sorted(FIELDS)) | st.text(max_size=8), values, min_size=0, max_size=2),
    lambda inner: st.dictionaries(st.sampled_from(["all", "any", "not"]), st.lists(inner, max_size=3) | inner,
                                  min_size=1, max_size=1), max_leaves=6)
rules = st.lists(st.fixed_dictionaries({"name": st.text(max_size=8) | st.integers()},
                                       optional={"when": conditions, "then": st.dictionaries(
                                           st.sampled_from(ACTIONS) | st.text(max_size=6), values, max_size=4),
                                           "description": values, "extra": values}), max_size=5)
documents = st.fixed_dictionaries({}, optional={
    "version": st.sampled_from([1, 2, "1", None]), "mode": st.sampled_from(["accumulate", "first_match", "all", 3]),
    "departments": st.lists(st.sampled_from(["billing", "product", "pr", "support", "legal"]) | scalars, max_size=5)
    | scalars, "default_sla_policy": scalars, "rules": rules | values, "surprise": values})


def parse_or_problems(document: object) -> RuleSet | None:
    try:
        return parse_rules(document, "fuzz.yaml")
    except RulesError as exc:
        assert exc.problems and all(p.startswith("fuzz.yaml: ") for p in exc.problems)
        return None


def usable(ruleset: RuleSet) -> None:
    assert ruleset.mode in ("accumulate", "first_match")
    if not ruleset.departments:
        return  # accepted with no department at all: pinned by test_an_empty_department_list_is_refused
    assert all(isinstance(d, str) and d for d in ruleset.departments)
    for rule in ruleset.rules:
        for department in filter(None, (rule.then.department, *rule.then.also)):
            assert department in ruleset.departments
        for priority in filter(None, (rule.then.priority, rule.then.priority_at_least)):
            assert priority in PRIORITIES
    for mention, classification in MENTIONS:  # what route does with every classified mention
        decision = decide(ruleset, facts(mention, classification, {"cases": 3, "complaints": 1}))
        assert decision.department in ruleset.departments and set(decision.departments) <= set(ruleset.departments)
        assert decision.priority in PRIORITIES


MENTIONS = [
    ({"channel": "x", "text": "I'm going to sue you, refund me", "author": {"followers": 50_000, "verified": True},
      "kind": "post", "metrics": {"reposts": 12}},
     {"intent": "complaint", "sentiment": {"label": "negative", "score": -0.9}, "department": "billing",
      "flags": ["legal_threat", "escalation_threat"], "department_scores": {"billing": 0.8},
      "priority": {"bucket": "high", "score": 80}, "entities": [{"label": "competitor", "value": "Globex"}]}),
    ({"channel": "email", "text": "", "author": {}}, {"intent": "spam", "department": "nowhere", "priority": {}}),
    ({}, {}),
]


@settings(max_examples=300, deadline=None)
@given(json_values | documents)
def test_any_document_is_a_ruleset_or_a_list_of_problems(document):
    ruleset = parse_or_problems(document)
    if ruleset is not None:
        usable(ruleset)


PATHS = paths(SHIPPED)[1:]


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), replacement=values | conditions, delete=st.booleans())
def test_one_change_to_the_shipped_rules_is_accepted_or_reported(path, replacement, delete):
    document = mutated(SHIPPED, path, replacement, delete)
    ruleset = parse_or_problems(document)
    if ruleset is not None:
        usable(ruleset)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400) | st.sampled_from(["rules: [", "version: 1\nrules: !!python/object:os.system {}",
                                                     "&a [*a]", "- - - -", "version: 1\nrules:\n  - name: x\n    when: "
                                                     "{flag: [a, {b: c}]}\n    then: {tags: [{}]}"]))
def test_any_file_is_loaded_or_refused_with_problems(tmp_path: Path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        usable(load_rules(path))
    except RulesError as exc:
        assert exc.problems and all(p.startswith(str(path)) for p in exc.problems)


def test_an_empty_department_list_is_refused():
    with pytest.raises(RulesError, match="departments"):
        parse_rules({"version": 1, "departments": [], "rules": []}, "empty.yaml")
