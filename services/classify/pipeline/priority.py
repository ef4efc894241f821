"""Priority: one score 0–100 and a bucket, from negativity, intent, flags, reach and virality.

Why additive points with caps: an operator must be able to read why a case is critical
("flags 40 + reach 15 + …" in `components`), and each ingredient is bounded so no single
one (a million followers, a spam post) can dominate. The weights follow the domain notes
in DESIGN.md: threats jump the queue, high-reach venting escalates fastest, spam is zero.
"""

from __future__ import annotations

import math
from typing import Any

INTENT_POINTS = {"complaint": 40, "question": 25, "feedback": 15, "other": 10, "praise": 5, "spam": 0}
FLAG_POINTS = {"escalation_threat": 20, "legal_threat": 25, "churn_threat": 15, "safety_issue": 30, "competitor_mention": 0}
FLAG_CAP = 40


def bucket(score: int) -> str:
    if score >= 75:
        return "critical"
    if score >= 50:
        return "high"
    if score >= 25:
        return "normal"
    return "low"


def priority(sentiment: dict[str, Any], intent: str, flags: list[str], author: dict[str, Any],
             reposts: int = 0) -> dict[str, Any]:
    """The v1 `priority` object with its explaining components."""
    intent_points = INTENT_POINTS.get(intent, 10)
    negativity = int(20 * sentiment["score"]) if sentiment["label"] == "negative" else 0
    flag_points = min(FLAG_CAP, sum(FLAG_POINTS.get(f, 0) for f in flags))
    followers = max(0, _int(author.get("followers")))
    reach = min(15, int(4 * math.log10(followers + 1))) + (5 if author.get("verified") else 0)
    virality = min(10, int(3 * math.log10(max(0, reposts) + 1)))
    score = 0 if intent == "spam" else max(0, min(100, intent_points + negativity + flag_points + reach + virality))
    return {"score": score, "bucket": bucket(score),
            "components": {"intent": intent_points, "negativity": negativity, "flags": flag_points, "reach": reach,
                           "virality": virality}}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
