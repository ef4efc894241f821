"""services.classify.pipeline.priority: bounded, explainable points."""

from __future__ import annotations

import pytest

from services.classify.pipeline.priority import bucket, priority

NEG = {"label": "negative", "score": 0.9}
NEU = {"label": "neutral", "score": 0.8}


@pytest.mark.parametrize("score,expected", [(0, "low"), (24, "low"), (25, "normal"), (49, "normal"), (50, "high"),
                                            (74, "high"), (75, "critical"), (100, "critical")])
def test_buckets(score, expected):
    assert bucket(score) == expected


def test_components_add_up():
    p = priority(NEG, "complaint", ["legal_threat"], {"followers": 999, "verified": True}, reposts=99)
    c = p["components"]
    assert c == {"intent": 40, "negativity": 18, "flags": 25, "reach": 17, "virality": 6}
    assert p["score"] == 100 and p["bucket"] == "critical"  # 105 capped


def test_flags_are_capped_and_competitor_mentions_add_nothing():
    many = priority(NEU, "question", ["legal_threat", "safety_issue", "escalation_threat"], {})
    assert many["components"]["flags"] == 40
    assert priority(NEU, "question", ["competitor_mention"], {})["components"]["flags"] == 0


def test_spam_is_zero_whatever_the_reach():
    assert priority(NEU, "spam", [], {"followers": 10**8, "verified": True})["score"] == 0


def test_bad_author_fields_are_tolerated():
    p = priority(NEU, "question", [], {"followers": "lots", "verified": None}, reposts=-5)
    assert p["components"]["reach"] == 0 and p["components"]["virality"] == 0
