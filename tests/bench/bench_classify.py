"""Classifier benchmark: quality beside VADER and TextBlob, and throughput on one core.

Run: `.venv/bin/python -m tests.bench.bench_classify [--data-dir ../shared/data] [--out FILE]`,
or as the `classify` section of `make bench` (`run()`). Writes one JSON report (default
tests/bench/results/classify.json, confusion matrices included) and prints a summary.

- airline_tweets.csv (evaluation only, never trained on): negative-vs-rest F1 and 3-class
  macro-F1 for Heatdesk, VADER and TextBlob on the same texts in the same run;
- TweetEval sentiment test split: macro-recall (its standard metric), same three systems;
- the held-out part of tests/data/labelled_mentions.jsonl: department macro-F1, per-flag
  precision/recall, sentiment and intent macro-F1;
- throughput, pinned to one CPU: `nlp.pipe` docs/s and full `Classifier.classify`
  mentions/s beside VADER's `polarity_scores` on the same texts, median of three runs, all
  with the garbage collector set as a service process sets it (`service_gc`).
Figures are measurements, not assertions: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from services.classify.evaluate import compare_sentiment, evaluate_labelled, read_sentiment_csv
from services.classify.pipeline.classifier import Classifier
from tests.bench.common import REPO, figure, service_gc

LABELLED = REPO / "tests" / "data" / "labelled_mentions.jsonl"
DATA_DIR = REPO.parent / "shared" / "data"
OUT = REPO / "tests" / "bench" / "results" / "classify.json"


def _rate(fn: Any, n: int, runs: int = 3) -> dict[str, Any]:
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - started))
    return figure(rates, "per s")


def throughput(texts: list[str], classifier: Classifier) -> dict[str, Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    original = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        os.sched_setaffinity(0, {min(original or {0})})  # one core, as the target says
        pinned = True
    except (AttributeError, OSError):
        pinned = False
    try:
        nlp = classifier.nlp
        mentions = [{"text": t, "language": "en", "author": {"followers": 100}} for t in texts]
        list(nlp.pipe(texts[:500]))  # warm caches the way a running service has them
        vader = SentimentIntensityAnalyzer()
        with service_gc():  # VADER too: both measured under the same collector settings
            return {
                "texts": len(texts),
                "pinned_to_one_core": pinned,
                "gc": "as in a service: start-up heap frozen, young-generation threshold raised",
                "nlp_pipe_docs_per_s": _rate(lambda: list(nlp.pipe(texts, batch_size=256)), len(texts)),
                "classify_mentions_per_s": _rate(lambda: classifier.classify(mentions), len(texts)),
                "vader_texts_per_s": _rate(lambda: [vader.polarity_scores(t) for t in texts], len(texts)),
            }
    finally:
        if pinned and original:
            os.sched_setaffinity(0, original)  # `make bench` runs other sections in this process


def tweeteval(data_dir: Path) -> dict[str, Any] | None:
    folder = data_dir / "tweeteval_sentiment"
    if not (folder / "test_text.txt").exists():
        return None
    texts = (folder / "test_text.txt").read_text(encoding="utf-8").splitlines()
    names = {"0": "negative", "1": "neutral", "2": "positive"}
    gold = [names[x.strip()] for x in (folder / "test_labels.txt").read_text(encoding="utf-8").splitlines()]
    return compare_sentiment(texts, gold)


def measure(data_dir: Path = DATA_DIR, out: Path = OUT) -> dict[str, Any]:
    """The full report (also written to `out`)."""
    classifier = Classifier()
    report: dict[str, Any] = {"model_version": classifier.model_version, "python": platform.python_version(),
                              "machine": platform.machine(), "cpus": os.cpu_count()}
    heldout = evaluate_labelled(LABELLED, "test", classifier)
    report["labelled_heldout"] = {
        "n": heldout["n"],
        "department_macro_f1": heldout["department"]["macro_f1"],
        "sentiment_macro_f1": heldout["sentiment"]["macro_f1"],
        "intent_macro_f1": heldout["intent"]["macro_f1"],
        "flags": heldout["flags"],
        "department": heldout["department"]["labels"],
    }
    airline = data_dir / "airline_tweets.csv"
    texts: list[str] = []
    if airline.exists():
        texts, gold = read_sentiment_csv(airline)
        report["airline_tweets"] = compare_sentiment(texts, gold)
    report["tweeteval_sentiment"] = tweeteval(data_dir)
    if not texts:
        texts = [json.loads(line)["text"] for line in LABELLED.read_text(encoding="utf-8").splitlines()] * 20
    report["throughput"] = throughput(texts, classifier)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def run() -> dict[str, Any]:
    """The `classify` section of `make bench`: the summary (the full report goes to OUT)."""
    return {**_summary(measure()), "full_report": str(OUT)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    report = measure(args.data_dir, args.out)
    print(json.dumps(_summary(report), indent=2))
    print(f"full report: {args.out}")
    return 0


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    held = report["labelled_heldout"]
    out: dict[str, Any] = {"model_version": report["model_version"], "labelled_heldout": {
        "n": held["n"], "department_macro_f1": held["department_macro_f1"], "sentiment_macro_f1": held["sentiment_macro_f1"],
        "intent_macro_f1": held["intent_macro_f1"],
        "flags": {f: {"recall": s["recall"], "precision": s["precision"], "n": s["support"]} for f, s in held["flags"].items()}}}
    for name in ("airline_tweets", "tweeteval_sentiment"):
        if report.get(name):
            out[name] = {system: {k: report[name][system][k] for k in ("negative_f1", "macro_f1", "macro_recall")}
                         for system in ("heatdesk", "vader", "textblob")}
    out["throughput"] = report["throughput"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
