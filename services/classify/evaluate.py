"""`heatdesk evaluate`: precision, recall, F1, macro-F1 and confusion matrices of the shipped
classifier on a labelled file, plus the side-by-side sentiment comparison with VADER and
TextBlob on an external tweet set.

Why our own metric code: a few lines of counting, no scikit-learn in the image. Labelled
JSONL lines carry gold `sentiment`, `intent`, `department`, `flags` (any subset; missing
fields are not scored) and optionally `split`. External sentiment sets are read-only
evaluation data: this module never writes anything derived from them except numbers.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from services.classify.pipeline.classifier import Classifier
from services.classify.pipeline.textcat import HEADS
from services.classify.training_data import load_labelled

FLAGS = ("escalation_threat", "churn_threat", "legal_threat", "safety_issue", "competitor_mention")
SENTIMENTS = HEADS["sentiment"]


def prf(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Per-label precision/recall/F1/support, macro averages, accuracy and confusion[gold][pred]."""
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        per[label] = _scores(tp, fp, fn)
    present = [label for label in labels if per[label]["support"] > 0]
    confusion = {g: {p: sum(1 for a, b in zip(gold, pred, strict=True) if a == g and b == p) for p in labels} for g in labels}
    return {"labels": per, "macro_f1": _mean(per[label]["f1"] for label in present),
            "macro_recall": _mean(per[label]["recall"] for label in present),
            "accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold), 4) if gold else 0.0,
            "n": len(gold), "confusion": confusion}


def _scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn,
            "predicted": tp + fp}


def _mean(values: Any) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


def flag_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, dict[str, float]]:
    out = {}
    for flag in FLAGS:
        tp = sum(flag in g and flag in p for g, p in zip(gold, pred, strict=True))
        fp = sum(flag not in g and flag in p for g, p in zip(gold, pred, strict=True))
        fn = sum(flag in g and flag not in p for g, p in zip(gold, pred, strict=True))
        out[flag] = _scores(tp, fp, fn)
    return out


def evaluate_labelled(path: Path, split: str | None = "test", classifier: Classifier | None = None) -> dict[str, Any]:
    rows = load_labelled(path, None if split == "all" else split)
    return score_rows(rows, classifier, name=str(path), split=split or "all")


def score_rows(rows: Sequence[dict[str, Any]], classifier: Classifier | None = None, *, name: str = "rows",
               split: str = "all", gold_language: bool = True) -> dict[str, Any]:
    """Scores of the classifier on labelled rows held in memory. With `gold_language` the row's
    labelled language is passed as the mention's (the old self-written set); without it the
    classifier detects the language as it does for a mention ingest could not tag."""
    classifier = classifier or Classifier()
    mentions = []
    for r in rows:
        mention = {"text": r["text"], "author": r.get("author") or {}}
        if gold_language:
            mention["language"] = r.get("language")
        mentions.append(mention)
    results = classifier.classify(mentions)
    report: dict[str, Any] = {"file": name, "split": split, "n": len(rows), "model_version": classifier.model_version}
    for head, labels in HEADS.items():
        pairs = [(r[head], c[head] if head != "sentiment" else c["sentiment"]["label"])
                 for r, c in zip(rows, results, strict=True) if r.get(head)]
        if pairs:
            report[head] = prf([g for g, _ in pairs], [p for _, p in pairs], labels)
    flagged = [(r["flags"], c["flags"]) for r, c in zip(rows, results, strict=True) if "flags" in r]
    if flagged:
        report["flags"] = flag_scores([g for g, _ in flagged], [p for _, p in flagged])
    report["errors"] = [{"id": r.get("id"), "text": r["text"], **{h: [r.get(h), c[h] if h != "sentiment" else c[h]["label"]]
                        for h in ("sentiment", "intent", "department")},
                         "flags": [sorted(r.get("flags", [])), c["flags"]], "cues": c["cues"]}
                        for r, c in zip(rows, results, strict=True)
                        if any(r.get(h) and r[h] != (c[h] if h != "sentiment" else c[h]["label"])
                               for h in ("sentiment", "intent", "department"))
                        or ("flags" in r and sorted(r["flags"]) != c["flags"])]
    return report


def read_sentiment_csv(path: Path, text: str = "text", label: str = "airline_sentiment") -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r[text] for r in rows], [r[label] for r in rows]


def vader_labels(texts: Sequence[str]) -> list[str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for t in texts:  # the thresholds VADER's authors recommend
        c = analyzer.polarity_scores(t)["compound"]
        out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
    return out


def textblob_labels(texts: Sequence[str]) -> list[str]:
    from textblob import TextBlob

    out = []
    for t in texts:
        p = TextBlob(t).sentiment.polarity
        out.append("positive" if p > 0 else "negative" if p < 0 else "neutral")
    return out


def heatdesk_labels(texts: Sequence[str], classifier: Classifier | None = None) -> list[str]:
    classifier = classifier or Classifier()
    # Scored as English text: the set is English, and a language guess must not hide model errors.
    results = classifier.classify([{"text": t, "language": "en", "author": {}} for t in texts])
    return [r["sentiment"]["label"] for r in results]


def compare_sentiment(texts: Sequence[str], gold: Sequence[str], baselines: bool = True) -> dict[str, Any]:
    """Negative-vs-rest F1 and 3-class macro-F1 for Heatdesk (and VADER, TextBlob) on one set."""
    systems: dict[str, Callable[[Sequence[str]], list[str]]] = {"heatdesk": heatdesk_labels}
    if baselines:
        systems.update({"vader": vader_labels, "textblob": textblob_labels})
    out: dict[str, Any] = {"n": len(texts), "gold": dict(Counter(gold))}
    for name, run in systems.items():
        pred = run(texts)
        three = prf(gold, pred, SENTIMENTS)
        neg = prf(["negative" if g == "negative" else "rest" for g in gold],
                  ["negative" if p == "negative" else "rest" for p in pred], ("negative", "rest"))
        out[name] = {"negative_f1": neg["labels"]["negative"]["f1"], "negative_precision": neg["labels"]["negative"]["precision"],
                     "negative_recall": neg["labels"]["negative"]["recall"], "macro_f1": three["macro_f1"],
                     "macro_recall": three["macro_recall"], "accuracy": three["accuracy"], "confusion": three["confusion"]}
    return out


def format_report(report: dict[str, Any]) -> str:
    """Plain-text tables of a labelled-file report."""
    lines = [f"{report['file']} split={report['split']} n={report['n']} model={report['model_version']}"]
    for head in HEADS:
        if head not in report:
            continue
        r = report[head]
        lines.append(f"\n{head}: macro-F1 {r['macro_f1']:.3f}  accuracy {r['accuracy']:.3f}")
        lines.append(f"  {'label':<12} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>5}")
        for label, s in r["labels"].items():
            lines.append(f"  {label:<12} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} {s['support']:>5}")
        labels = list(r["confusion"])
        lines.append("  confusion (rows gold, columns predicted): " + " ".join(f"{x[:8]:>8}" for x in labels))
        for g in labels:
            lines.append(f"  {g:<12}" + " " * 30 + " ".join(f"{r['confusion'][g][p]:>8}" for p in labels))
    if "flags" in report:
        lines.append(f"\nflags:\n  {'flag':<20} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>5} {'pred':>5}")
        for flag, s in report["flags"].items():
            lines.append(f"  {flag:<20} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} {s['support']:>5} {s['predicted']:>5}")
    return "\n".join(lines)


def format_comparison(result: dict[str, Any], title: str) -> str:
    lines = [f"{title} (n={result['n']}, gold {result['gold']})",
             f"  {'system':<10} {'neg-F1':>7} {'neg-P':>7} {'neg-R':>7} {'macro-F1':>9} {'macro-R':>8}"]
    for name in ("heatdesk", "vader", "textblob"):
        if name in result:
            r = result[name]
            lines.append(f"  {name:<10} {r['negative_f1']:>7.3f} {r['negative_precision']:>7.3f} {r['negative_recall']:>7.3f} "
                         f"{r['macro_f1']:>9.3f} {r['macro_recall']:>8.3f}")
    return "\n".join(lines)
