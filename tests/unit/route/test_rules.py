"""Routing rules: every operator, combinators, actions, semantics, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.route.rules.facts import facts
from services.route.rules.load import RulesError, load_rules, parse_rules
from services.route.rules.match import decide, holds

MENTION = {"channel": "x", "language": "en", "kind": "post", "text": "I want a REFUND for order 55, chargeback next",
           "author": {"id": "1", "followers": 12_000, "verified": False}, "metrics": {"reposts": 40},
           "hashtags": ["Outage"], "mentioned_accounts": ["AcmeHelp"], "stream_tags": ["brand mentions"]}
CLASSIFICATION = {"intent": "complaint", "sentiment": {"label": "negative", "score": 0.8},
                  "flags": ["churn_threat", "competitor_mention"], "department": "billing",
                  "department_scores": {"billing": 0.7, "support": 0.3}, "priority": {"score": 64, "bucket": "high"},
                  "entities": [{"label": "order_id", "text": "order 55", "value": "55"},
                               {"label": "competitor", "text": "Globex", "value": "Globex"}]}
FACTS = facts(MENTION, CLASSIFICATION, {"cases": 2, "complaints": 3})


def one(when: dict) -> bool:
    rules = parse_rules({"rules": [{"name": "r", "when": when, "then": {"tags": ["t"]}}]}, "test")
    return holds(rules.rules[0].when, FACTS)


@pytest.mark.parametrize("when,expected", [
    ({"channel": "x"}, True), ({"channel": ["facebook", "x"]}, True), ({"channel": {"ne": "x"}}, False),
    ({"language": "en"}, True), ({"kind": {"in": ["post", "comment"]}}, True),
    ({"intent": "complaint"}, True), ({"intent": "praise"}, False), ({"sentiment": "negative"}, True),
    ({"department": "billing"}, True), ({"priority": "high"}, True), ({"priority": {"gte": "normal"}}, True),
    ({"priority": {"gt": "high"}}, False), ({"priority": ["critical", "high"]}, True),
    ({"followers": {"gt": 10000}}, True), ({"followers": {"lte": 10000}}, False), ({"verified": True}, False),
    ({"sentiment_score": {"gte": 0.8}}, True), ({"priority_score": {"lt": 50}}, False),
    ({"repeat_cases": {"gte": 2}}, True), ({"repeat_complaints": {"eq": 3}}, True), ({"reposts": {"gt": 30}}, True),
    ({"flag": "churn_threat"}, True), ({"flag": ["legal_threat", "safety_issue"]}, False),
    ({"entity": "order_id"}, True), ({"entity": "money"}, False), ({"entity_value": {"competitor": "globex"}}, True),
    ({"keywords": ["chargeback"]}, True), ({"keywords": ["charge"]}, False),  # whole words only
    ({"keywords": "refund"}, True),  # case-insensitive
    ({"department_score": {"billing": {"gte": 0.6}}}, True), ({"department_score": {"pr": {"gt": 0}}}, False),
    ({"all": [{"intent": "complaint"}, {"followers": {"gt": 100}}]}, True),
    ({"all": [{"intent": "complaint"}, {"verified": True}]}, False),
    ({"any": [{"verified": True}, {"flag": "churn_threat"}]}, True),
    ({"hashtag": "#outage"}, True), ({"hashtag": ["fail", "down"]}, False), ({"mentioned": "@acmehelp"}, True),
    ({"stream_tag": "Brand Mentions"}, True), ({"stream_tag": "competitors"}, False),
    ({"not": {"channel": "x"}}, False), ({"not": {"any": [{"verified": True}, {"language": "de"}]}}, True),
])
def test_every_operator(when, expected):
    assert one(when) is expected


def test_accumulate_applies_every_match_in_order_until_stop():
    rules = parse_rules({"departments": ["billing", "pr", "legal", "sales", "support", "product"], "rules": [
        {"name": "a", "when": {"intent": "complaint"}, "then": {"also": ["sales"], "tags": ["x"], "priority": "normal"}},
        {"name": "b", "when": {"flag": "churn_threat"}, "then": {"priority_at_least": "high", "sla_policy": "vip"}},
        {"name": "c", "when": {"followers": {"gt": 1000}}, "then": {"department": "pr", "escalate": True, "stop": True}},
        {"name": "d", "when": {"intent": "complaint"}, "then": {"tags": ["never"]}},
    ]}, "test")
    decision = decide(rules, FACTS)
    assert decision.matched == ("a", "b", "c")
    assert decision.department == "pr" and decision.departments == ("pr", "billing", "sales")
    assert decision.priority == "high" and decision.sla_policy == "vip" and decision.tags == ("x",)
    assert decision.escalated_by == ("c",) and set(decision.added_by_rules) == {"sales", "pr"}
    assert any("owner billing -> pr" in line for line in decision.trace)


def test_priority_at_least_never_lowers_and_first_match_stops():
    rules = parse_rules({"mode": "first_match", "rules": [
        {"name": "a", "when": {"intent": "complaint"}, "then": {"priority_at_least": "low"}},
        {"name": "b", "when": {"intent": "complaint"}, "then": {"priority": "critical"}},
    ]}, "test")
    decision = decide(rules, FACTS)
    assert decision.priority == "high" and decision.matched == ("a",)


def test_shipped_rules_load_and_route_the_defaults():
    rules = load_rules(None)
    assert set(rules.departments) >= {"billing", "product", "pr", "support"}
    legal = facts({**MENTION, "author": {"id": "1", "followers": 10}}, {**CLASSIFICATION, "flags": ["legal_threat"]})
    decision = decide(rules, legal)
    assert "legal" in decision.departments and decision.sla_policy == "legal"
    loud = facts(MENTION, {**CLASSIFICATION, "flags": ["escalation_threat"]})
    assert decide(rules, loud).department == "pr" and decide(rules, loud).priority == "critical"
    spam = facts(MENTION, {**CLASSIFICATION, "intent": "spam", "flags": []})
    assert decide(rules, spam).priority == "low" and decide(rules, spam).matched == ("spam-is-low",)


def test_an_unknown_follower_count_passes_no_number_test():
    """Meta sends no count: 'under 100 followers' must not fire for a page with a million fans."""
    unknown = facts({**MENTION, "author": {"id": "1", "followers": 0, "followers_known": False}}, CLASSIFICATION)
    assert unknown["followers"] is None
    for when in ({"followers": {"lt": 100}}, {"followers": {"gte": 0}}, {"followers": 0}):
        rules = parse_rules({"rules": [{"name": "r", "when": when, "then": {"tags": ["t"]}}]}, "test")
        assert holds(rules.rules[0].when, unknown) is False
    assert facts({**MENTION, "author": {"id": "1", "followers": 0}}, CLASSIFICATION)["followers"] == 0  # pre-flag record


def test_shipped_rules_bring_pr_to_a_complaint_with_reach():
    """A verified journalist with 248,113 followers reporting an outage: no threat, but PR knows."""
    rules = load_rules(None)
    outage = {"intent": "complaint", "sentiment": {"label": "negative", "score": 0.5}, "flags": [],
              "department": "support", "department_scores": {"support": 0.6}, "priority": {"score": 40, "bucket": "normal"}}
    journalist = {**MENTION, "author": {"id": "9", "followers": 248_113, "verified": True}}
    decision = decide(rules, facts(journalist, outage))
    assert decision.department == "support" and "pr" in decision.departments
    assert "high-reach" in decision.tags and decision.priority == "high"
    assert "high-reach-complaint" in decision.matched
    small = {**MENTION, "author": {"id": "9", "followers": 248, "verified": True}}
    assert "pr" not in decide(rules, facts(small, outage)).departments
    praise = {**outage, "intent": "praise", "sentiment": {"label": "positive", "score": 0.9}}
    assert "pr" not in decide(rules, facts(journalist, praise)).departments


@pytest.mark.parametrize("document,message", [
    ({"rules": [{"name": "r", "when": {"flg": "x"}, "then": {"tags": ["t"]}}]}, "rule 'r'.when: unknown field 'flg'"),
    ({"rules": [{"name": "r", "when": {"followers": {"gte": "many"}}, "then": {"tags": ["t"]}}]},
     "rule 'r'.when.followers: 'many' is not a number"),
    ({"rules": [{"name": "r", "when": {"followers": {"approx": 3}}, "then": {"tags": ["t"]}}]}, "unknown operator"),
    ({"rules": [{"name": "r", "when": {"intent": "complaint"}, "then": {"department": "legal"}}]},
     "department 'legal' is not declared"),
    ({"rules": [{"name": "r", "when": {"intent": "complaint"}, "then": {"priority": "urgent"}}]},
     "'urgent' is not a priority"),
    ({"rules": [{"name": "r", "when": {"intent": "complaint"}, "then": {"tags": ["t"]}},
                {"name": "r", "when": {"intent": "praise"}, "then": {"tags": ["t"]}}]}, "duplicate rule name"),
    ({"rules": [{"name": "r", "when": {"all": []}, "then": {"tags": ["t"]}}]}, "non-empty list"),
    ({"rules": [{"name": "r", "then": {"tags": ["t"]}}]}, "needs both `when` and `then`"),
    ({"mode": "random", "rules": []}, "mode: accumulate or first_match"),
    ({"rules": "everything"}, "rules: expects a list"),
])
def test_validation_names_file_rule_and_field(document, message):
    with pytest.raises(RulesError) as info:
        parse_rules(document, "rules.yaml")
    assert any(message in p and p.startswith("rules.yaml: ") for p in info.value.problems), info.value.problems


def test_invalid_yaml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(tmp_path / "missing.yaml")
