"""`heatdesk classify | train | evaluate`: the classifier's command-line jobs.

`register(subparsers)` adds the three subcommands to the `heatdesk` parser. `classify`
already exists there as "run the service"; register extends that parser instead of adding
a second one: without `--input` it still runs the Kafka service, with `--input` it
classifies a JSONL file. Each subcommand stores its handler as `args.handler`; `run(args)`
calls it (the main CLI calls `run` for "classify", "train" and "evaluate").

Exit codes follow services/cli.py: 0 success, 1 some input lines were bad (every good
line is still written), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

DEFAULT_LABELLED = Path("tests/data/labelled_mentions.jsonl")
DEFAULT_DATA_DIR = Path("../shared/data")
DEFAULT_WRITTEN = Path("tests/data/written")
OUTPUT_FIELDS = ("id", "sentiment", "intent", "flags", "department", "department_scores", "priority", "entities",
                 "cues", "model_version", "language")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add (or extend) `classify`, and add `train` and `evaluate`."""
    c = subparsers.choices.get("classify") or subparsers.add_parser("classify", help="run the classifier")
    c.description = "Without --input: run the classify service. With --input: classify a JSONL file of mentions."
    c.add_argument("--input", help="JSONL mentions to classify ('-' for stdin)")
    c.add_argument("--output", default="-", help="where to write one classification per line (default stdout)")
    c.add_argument("--batch-size", type=int, default=512, help="mentions per nlp.pipe batch")
    c.set_defaults(handler=cmd_classify)

    t = subparsers.add_parser("train", help="train the classifier models shipped in services/classify/models")
    t.add_argument("--labelled", type=Path, default=DEFAULT_LABELLED, help="hand-labelled JSONL (its train split is used)")
    t.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="folder with banking77/ and the CFPB samples (redistributable training data)")
    t.add_argument("--no-external", action="store_true", help="train on our own text only (no BANKING77, no CFPB)")
    t.add_argument("--synthetic", type=int, default=6000, help="number of template texts to generate")
    t.add_argument("--out", type=Path, default=None, help="models folder (default: the package's models/)")
    t.add_argument("--embeddings", type=Path, default=None,
                   help="word vectors from `python -m services.classify.distill` (default: the package's "
                        "models/embeddings.npz)")
    t.add_argument("--no-embeddings", action="store_true", help="train without the word-vector block")
    t.add_argument("--cfpb-extra", type=Path, nargs="+", default=[], metavar="CSV",
                   help="copies of the public CFPB complaint database (its complaints.csv export columns), read "
                        "in order, up to 12,000 narratives (see services/classify/models/README.md)")
    t.add_argument("--written", type=Path, default=DEFAULT_WRITTEN, metavar="DIR",
                   help="folder of written training posts (its part-*.jsonl; default tests/data/written)")
    t.add_argument("--goemotions", type=Path, nargs="+", default=[], metavar="TSV",
                   help="GoEmotions train/dev/test.tsv (Reddit comments, Apache-2.0): sentiment training text "
                        "(see services/classify/models/README.md)")
    t.set_defaults(handler=cmd_train)

    e = subparsers.add_parser("evaluate", help="precision/recall/F1 and confusion matrices of the classifier")
    e.description = ("Without --input: the scorecard (the real-customer set's dev half, the old held-out rows, airline "
                     "tweets and TweetEval, beside VADER). With --input: the tables of one labelled JSONL file.")
    e.add_argument("--input", type=Path, default=None, help="labelled JSONL (gold sentiment/intent/department/flags)")
    e.add_argument("--score-test", action="store_true",
                   help="also score the real set's test half (logged in tests/data/evaluation/scorings.jsonl: do it rarely)")
    e.add_argument("--tune-thresholds", action="store_true",
                   help="print each flag head's threshold chosen on the real set's dev halves (dev, dev2; for flag_thresholds)")
    e.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the evaluation sources (default HEATDESK_EVAL_DATA, else ../shared/data)")
    e.add_argument("--split", default="test", help="rows whose 'split' equals this ('all' for every row)")
    e.add_argument("--json", type=Path, default=Path("classify_evaluation.json"), help="where to write the report")
    e.add_argument("--sentiment-csv", type=Path, action="append", default=[],
                   help="extra CSV with text and airline_sentiment columns, compared with VADER and TextBlob")
    e.add_argument("--no-baselines", action="store_true", help="skip VADER and TextBlob")
    e.add_argument("--errors", action="store_true", help="also print every misclassified row")
    e.set_defaults(handler=cmd_evaluate)


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed `classify`, `train` or `evaluate` command."""
    return int(args.handler(args))


def cmd_classify(args: argparse.Namespace) -> int:
    if not args.input:
        from services.classify.app import main

        return main()
    from services.classify.pipeline.classifier import Classifier

    if args.batch_size < 1:
        print("heatdesk classify: --batch-size must be at least 1", file=sys.stderr)
        return 2
    classifier = Classifier(batch_size=args.batch_size)
    bad = 0
    with _open(args.input, "r") as src, _open(args.output, "w") as dst:
        for batch, errors in _batches(src, args.batch_size):
            for line_no, message in errors:
                bad += 1
                print(f"heatdesk classify: {args.input}:{line_no}: {message}", file=sys.stderr)
            if batch:
                for (_, mention), result in zip(batch, classifier.classify([m for _, m in batch]), strict=True):
                    dst.write(json.dumps(output_record(mention, result), ensure_ascii=False) + "\n")
            dst.flush()
    if bad:
        print(f"heatdesk classify: {bad} bad line(s) skipped", file=sys.stderr)
        return 1
    return 0


def output_record(mention: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The issue's output line: the classification with its id, priority without components
    and cues flattened to "rule: word" strings."""
    record = {"id": mention["id"], **result}
    record["priority"] = {"score": result["priority"]["score"], "bucket": result["priority"]["bucket"]}
    record["cues"] = [f"{rule}: {word}" for rule, words in result["cues"].items() for word in words]
    return {k: record[k] for k in OUTPUT_FIELDS if k in record}


def parse_line(line: str) -> dict[str, Any]:
    """One input line → a mention for `Classifier.classify`; ValueError says what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    if not isinstance(data.get("id"), str | int) or isinstance(data.get("id"), bool) or data.get("id") == "":
        raise ValueError("'id' must be a non-empty string or an integer")
    if not isinstance(data.get("text"), str):
        raise ValueError("'text' must be a string")
    author = data.get("author", {})
    if author is None:
        author = {}
    if not isinstance(author, dict):
        raise ValueError("'author' must be an object")
    for key, kind in (("followers", int), ("verified", bool)):
        if key in author and author[key] is not None and not isinstance(author[key], kind):
            raise ValueError(f"'author.{key}' must be {'an integer' if kind is int else 'true or false'}")
    mention = {"id": data["id"], "text": data["text"], "author": author}
    for key in ("channel", "language", "metrics"):
        if key in data:
            mention[key] = data[key]
    return mention


def _batches(src: IO[str], size: int) -> Iterator[tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]]:
    batch: list[tuple[int, dict[str, Any]]] = []
    errors: list[tuple[int, str]] = []
    for line_no, line in enumerate(src, start=1):
        if not line.strip():
            continue
        try:
            batch.append((line_no, parse_line(line)))
        except ValueError as exc:
            errors.append((line_no, str(exc)))
        if len(batch) >= size:
            yield batch, errors
            batch, errors = [], []
    yield batch, errors


def _open(path: str, mode: str) -> IO[str]:
    if path == "-":
        stream = sys.stdin if mode == "r" else sys.stdout
        return open(stream.fileno(), mode, encoding="utf-8", closefd=False)  # noqa: SIM115
    return open(path, mode, encoding="utf-8")  # noqa: SIM115


def cmd_train(args: argparse.Namespace) -> int:
    from services.classify.pipeline.textcat import EMBEDDINGS_FILE, MODELS_DIR
    from services.classify.train import train

    if not args.labelled.exists():
        print(f"heatdesk train: {args.labelled} not found (run from the repository root or pass --labelled)", file=sys.stderr)
        return 2
    data_dir = None if args.no_external else args.data_dir
    if data_dir is not None and not (data_dir / "banking77" / "train.csv").exists():
        print(f"heatdesk train: {data_dir}/banking77/train.csv not found (pass --data-dir or --no-external)", file=sys.stderr)
        return 2
    embeddings = None if args.no_embeddings else args.embeddings or MODELS_DIR / EMBEDDINGS_FILE
    if embeddings is not None and not embeddings.exists():
        print(f"heatdesk train: {embeddings} not found (build it with services/classify/distill.py, "
              "see services/classify/models/README.md, or pass --no-embeddings)", file=sys.stderr)
        return 2
    missing = [str(p) for p in [*args.cfpb_extra, *args.goemotions, args.written] if not p.exists()]
    if missing:
        print(f"heatdesk train: {', '.join(missing)} not found", file=sys.stderr)
        return 2
    try:
        report = train(args.labelled, data_dir, args.out or MODELS_DIR, synthetic=args.synthetic, embeddings=embeddings,
                       cfpb_extra_paths=args.cfpb_extra, goemotions_paths=args.goemotions,
                       written_paths=sorted(args.written.glob("part-*.jsonl")))
    except ValueError as exc:  # a --cfpb-extra, --goemotions or written file not in its source's format
        print(f"heatdesk train: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from services.classify.evaluate import (
        compare_sentiment,
        evaluate_labelled,
        format_comparison,
        format_report,
        read_sentiment_csv,
    )

    if args.tune_thresholds:
        return _tune(args)
    if args.input is None:
        return _scorecard(args)
    if not args.input.exists():
        print(f"heatdesk evaluate: {args.input} not found", file=sys.stderr)
        return 2
    report = evaluate_labelled(args.input, args.split)
    print(format_report(report))
    if args.errors:
        for row in report["errors"]:
            print(json.dumps(row, ensure_ascii=False))
    report["sentiment_sets"] = {}
    for path in args.sentiment_csv:
        texts, gold = read_sentiment_csv(path)
        result = compare_sentiment(texts, gold, baselines=not args.no_baselines)
        report["sentiment_sets"][str(path)] = result
        print("\n" + format_comparison(result, str(path)))
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nreport written to {args.json}")
    return 0


def _scorecard(args: argparse.Namespace) -> int:
    from services.classify.scorecard import build, format_card

    card = build(score_test=args.score_test, root=args.data_dir, baselines=not args.no_baselines)
    print(format_card(card))
    if args.errors:
        for name, column in card["sets"].items():
            for row in column.get("errors", []):
                print(json.dumps({"set": name, **row}, ensure_ascii=False))
    args.json.write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nreport written to {args.json}")
    return 0 if card["sets"] else 2


def _tune(args: argparse.Namespace) -> int:
    from services.classify import evalset
    from services.classify.pipeline.classifier import Classifier
    from services.classify.thresholds import tune

    rows = [r for r in evalset.load(root=args.data_dir) if r["split"] in ("dev", "dev2") and r.get("language") == "en"]
    chosen = tune(rows, Classifier())
    print(json.dumps({"flag_thresholds": {f: c["threshold"] for f, c in chosen.items()}}, indent=2))
    for flag, c in chosen.items():
        print(f"{flag:<20} t={c['threshold']:.2f}  recall {c['recall']:.2f}  precision {c['precision']:.2f}  (n={c['support']})")
    return 0
