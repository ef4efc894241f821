"""`heatdesk evaluate` with no `--input`: the classifier's scorecard on every set at once.

Why one table: the issue that built the real-customer evaluation set found the project's own
held-out rows saying all was well while text by other people said otherwise. The scorecard
puts the real set (its tuning halves, dev and dev2, always; the held-out half only on
request; the retired first test half as a column to choose with), the old self-written rows
(a regression check), the airline tweets and TweetEval side by side, with VADER beside the
sentiment columns, so no single set can be quoted alone.

The test half is scored only with `--score-test`, and every such scoring is appended to
`tests/data/evaluation/scorings.jsonl` (time, model, the numbers): the log is how the
project keeps its promise to score the test half rarely, and a reviewer can count it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.classify import evalset
from services.classify.evaluate import (
    FLAGS,
    compare_sentiment,
    evaluate_labelled,
    prf,
    read_sentiment_csv,
    score_rows,
    vader_labels,
)
from services.classify.pipeline.classifier import Classifier
from services.classify.pipeline.textcat import HEADS

SCORINGS_LOG = evalset.LABELS_PATH.parent / "scorings.jsonl"
OLD_LABELLED = evalset.LABELS_PATH.parents[1] / "labelled_mentions.jsonl"
#: The issue's targets on the test half: (metric, threshold).
TARGETS = {"department": 0.85, "sentiment": 0.75, "intent": 0.70, "flag_recall": 0.90, "flag_precision": 0.80,
           "airline_negative_f1": 0.87, "tweeteval_macro_recall": 0.65}


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the table from one `score_rows` report."""
    out: dict[str, Any] = {"n": report["n"]}
    for head in HEADS:
        if head in report:
            out[head] = report[head]["macro_f1"]
    for flag, s in report.get("flags", {}).items():
        out[flag] = {"recall": s["recall"], "precision": s["precision"], "support": s["support"]}
    return out


def vader_on(rows: Sequence[dict[str, Any]]) -> float:
    """VADER's sentiment macro-F1 on labelled rows: the baseline beside ours."""
    gold = [r["sentiment"] for r in rows if r.get("sentiment")]
    return prf(gold, vader_labels([r["text"] for r in rows if r.get("sentiment")]), HEADS["sentiment"])["macro_f1"]


def tweeteval(root: Path) -> tuple[list[str], list[str]]:
    folder = root / "tweeteval_sentiment"
    names = dict(line.split() for line in (folder / "mapping.txt").read_text().splitlines() if line.strip())
    texts = (folder / "test_text.txt").read_text(encoding="utf-8").splitlines()
    gold = [names[x.strip()] for x in (folder / "test_labels.txt").read_text().splitlines()]
    return texts, gold


def held_out_half(rows: list[dict[str, Any]]) -> str:
    """The held-out half `--score-test` reads: the second draw (`test2`) once it exists, since
    the first test half was scored the three times its protocol allows; else `test`."""
    return "test2" if any(r["split"] == "test2" for r in rows) else "test"


def build(score_test: bool = False, root: Path | None = None, classifier: Classifier | None = None,
          baselines: bool = True) -> dict[str, Any]:
    """Every column of the scorecard (sets whose files are missing are left out, and said)."""
    root = root or evalset.data_dir()
    classifier = classifier or Classifier()
    card: dict[str, Any] = {"model_version": classifier.model_version, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                            "sets": {}, "missing": []}
    try:
        rows = evalset.load(root=root)
    except (FileNotFoundError, ValueError) as exc:
        card["missing"].append(f"real-customer set: {exc}")
        rows = []
    held_out = held_out_half(rows)
    tuning = ("dev", "dev2") if any(r["split"] == "dev2" for r in rows) else ("dev",)
    halves = (*tuning, held_out) if score_test else tuning
    for half in halves if rows else ():
        part = [r for r in rows if r["split"] == half]
        report = score_rows(part, classifier, name=f"real:{half}", split=half, gold_language=False)
        card["sets"][f"real {half}"] = {**summarise(report), "errors": report["errors"]}
        english = [r for r in part if r.get("language") == "en"]
        other = [r for r in part if r.get("language") != "en"]
        if other:
            card["sets"][f"real {half} non-English"] = summarise(
                score_rows(other, classifier, name=f"real:{half}:non-en", split=half, gold_language=False))
        random_part = [r for r in part if r["stratum"] == "random"]
        card["sets"][f"real {half} random"] = summarise(
            score_rows(random_part, classifier, name=f"real:{half}:random", split=half, gold_language=False))
        if baselines:
            card["sets"][f"real {half}"]["vader_sentiment"] = vader_on(english)
    if held_out != "test" and rows:
        # The first test half, scored its three times, is no longer held out: one more column to
        # choose with (more rows than dev alone), never written to the scorings log.
        retired = [r for r in rows if r["split"] == "test"]
        card["sets"]["real test (retired)"] = summarise(
            score_rows(retired, classifier, name="real:test:retired", split="test", gold_language=False))
    if OLD_LABELLED.exists():
        card["sets"]["old held-out"] = summarise(evaluate_labelled(OLD_LABELLED, "test", classifier))
    airline = root / "airline_tweets.csv"
    if airline.exists():
        texts, gold = read_sentiment_csv(airline)
        card["airline"] = _strip(compare_sentiment(texts, gold, baselines=baselines))
    else:
        card["missing"].append(f"{airline} not found")
    if (root / "tweeteval_sentiment").exists():
        texts, gold = tweeteval(root)
        card["tweeteval"] = _strip(compare_sentiment(texts, gold, baselines=baselines))
    else:
        card["missing"].append(f"{root / 'tweeteval_sentiment'} not found")
    if score_test and rows:
        _log_scoring(card, held_out)
    return card


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: ({kk: vv for kk, vv in v.items() if kk != "confusion"} if isinstance(v, dict) else v)
            for k, v in result.items()}


def _log_scoring(card: dict[str, Any], half: str = "test") -> None:
    """Append this scoring of a held-out half to the log the evaluation README counts."""
    entry = {"at": card["at"], "model_version": card["model_version"],
             half: {k: v for k, v in card["sets"][f"real {half}"].items() if k != "errors"}}
    with SCORINGS_LOG.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def format_card(card: dict[str, Any]) -> str:
    """The issue's table: one column per labelled set, then the sentiment sets beside VADER."""
    names = [n for n in card["sets"]]
    width = max(10, *(len(n) for n in names)) if names else 10
    lines = [f"model {card['model_version']}  ({card['at']})", ""]
    header = f"{'':<28}" + "".join(f"{n:>{width + 2}}" for n in names)
    lines.append(header)

    def row(label: str, cell: Any) -> None:
        lines.append(f"{label:<28}" + "".join(f"{cell(card['sets'][n]):>{width + 2}}" for n in names))

    row("n", lambda s: str(s["n"]))
    for head in ("department", "sentiment", "intent"):
        row(f"{head} macro-F1", lambda s, h=head: f"{s[h]:.3f}" if h in s else "")
    row("VADER sentiment macro-F1", lambda s: f"{s['vader_sentiment']:.3f}" if "vader_sentiment" in s else "")
    for flag in FLAGS:
        row(f"{flag} R/P (n)", lambda s, f=flag: (f"{s[f]['recall']:.2f}/{s[f]['precision']:.2f} ({s[f]['support']})"
                                                   if f in s else ""))
    for key, title, metric in (("airline", "airline_tweets.csv", "negative_f1"),
                               ("tweeteval", "TweetEval sentiment test", "macro_recall")):
        if key in card:
            result = card[key]
            systems = [s for s in ("heatdesk", "vader", "textblob") if s in result]
            lines.append(f"\n{title} (n={result['n']}): " + "  ".join(
                f"{s} {metric.replace('_', '-')} {result[s][metric]:.3f} (macro-F1 {result[s]['macro_f1']:.3f})"
                for s in systems))
    for note in card["missing"]:
        lines.append(f"\nnot scored: {note}")
    return "\n".join(lines)
