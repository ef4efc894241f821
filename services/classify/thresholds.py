"""`heatdesk evaluate --tune-thresholds`: each flag head's threshold, chosen on the dev half only.

Why a threshold per flag: a missed threat never jumps the queue, a false one costs an agent a
minute, so each flag is set for recall first: the threshold with the best F2 (recall weighted
four times precision) among those keeping precision at or above `MIN_PRECISION`, else the
best F1. The result goes into the classify configuration (`flag_thresholds`), where an
operator can move it; the test half is never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.classify.pipeline.classifier import Classifier
from services.classify.pipeline.textcat import FLAG_NAMES

GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
MIN_PRECISION = 0.5


def _f(beta: float, p: float, r: float) -> float:
    return (1 + beta * beta) * p * r / (beta * beta * p + r) if p + r else 0.0


def tune(rows: Sequence[dict[str, Any]], classifier: Classifier) -> dict[str, dict[str, float]]:
    """{flag: {"threshold", "recall", "precision", "support"}} on labelled English `rows`."""
    analyses = classifier.analyse([r["text"] for r in rows])
    out: dict[str, dict[str, float]] = {}
    for flag in FLAG_NAMES:
        gold = [flag in r["flags"] for r in rows]
        support = sum(gold)
        by_rule = [f"flag:{flag}" in a.cues for a in analyses]
        p_yes = [a.probs.get(f"flag:{flag}", {}).get("yes", 0.0) for a in analyses]
        candidates = []
        for t in GRID:
            pred = [rule or p >= t for rule, p in zip(by_rule, p_yes, strict=True)]
            tp = sum(g and q for g, q in zip(gold, pred, strict=True))
            fp = sum(q and not g for g, q in zip(gold, pred, strict=True))
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / support if support else 0.0
            candidates.append((t, precision, recall))
        ok = [c for c in candidates if c[1] >= MIN_PRECISION]
        t, precision, recall = (max(ok, key=lambda c: (_f(2, c[1], c[2]), -c[0])) if ok
                                else max(candidates, key=lambda c: (_f(1, c[1], c[2]), c[0])))
        out[flag] = {"threshold": t, "recall": round(recall, 3), "precision": round(precision, 3), "support": support}
    return out
