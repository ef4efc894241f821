"""Quality floor of the shipped model on the held-out part of the hand-labelled set.

Not a benchmark (tests/bench/bench_classify.py reports the figures): a regression guard that
fails when retraining or a rule edit loses what the issue asks for. The thresholds are the
issue's targets; the set is fixed (`"split": "test"` rows, never trained on).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.classify.evaluate import evaluate_labelled
from services.classify.pipeline.textcat import LinearModel

LABELLED = Path(__file__).resolve().parents[2] / "data" / "labelled_mentions.jsonl"


@pytest.fixture(scope="module")
def report() -> dict:
    return evaluate_labelled(LABELLED, "test")


def test_heldout_set_is_fixed_and_large_enough():
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 400
    assert {r["split"] for r in rows} == {"train", "test"}
    assert sum(r["split"] == "test" for r in rows) >= 120
    assert len({r["text"] for r in rows}) == len(rows)


def test_department_macro_f1(report):
    assert report["department"]["macro_f1"] >= 0.85


def test_each_flag_recall_and_precision(report):
    for flag, s in report["flags"].items():
        assert s["support"] >= 8, flag
        assert s["recall"] >= 0.90, (flag, s)
        assert s["precision"] >= 0.80, (flag, s)


def test_shipped_model_was_trained_on_redistributable_sources_only():
    meta = LinearModel.load().meta
    # threats: the project's own templates; written: posts written for training (ours);
    # cfpb_extra: more CFPB narratives (US public domain); goemotions: Reddit comments (Apache-2.0).
    # Never the evaluation-only sets (TweetEval, airline, twcs): see services/classify/models/README.md.
    assert set(meta["examples"]) <= {"labelled", "written", "synthetic", "threats", "banking77", "cfpb", "cfpb_extra",
                                     "goemotions"}
    assert meta["examples"]["labelled"] == sum(
        json.loads(line)["split"] == "train" for line in LABELLED.read_text(encoding="utf-8").splitlines())
