"""services.classify.pipeline.textcat and .train: the linear heads, their explanations, their fit."""

from __future__ import annotations

import numpy as np
import pytest

from services.classify.pipeline.textcat import HEADS, LinearModel
from services.classify.train import fit

N_LABELS = sum(len(v) for v in HEADS.values())


def tiny_model() -> LinearModel:
    vocab = ["bias", "w:refund", "w:thanks", "w:crash"]
    W = np.zeros((len(vocab), N_LABELS), dtype=np.float32)
    s, i, d = 0, 3, 9  # first column of the sentiment, intent and department heads
    W[1, s + 0] = 2.0   # refund → negative
    W[1, d + 0] = 3.0   # refund → billing
    W[2, s + 2] = 2.0   # thanks → positive
    W[2, i + 2] = 2.0   # thanks → praise
    W[3, d + 1] = 3.0   # crash → product
    return LinearModel(vocab, W, np.zeros(N_LABELS, dtype=np.float32), dict(HEADS), {"version": "test"})


def test_probabilities_per_head_sum_to_one_and_follow_the_weights():
    model = tiny_model()
    (probs, top), (probs2, _) = model.predict([model.encode({"bias": 1.0, "w:refund": 1.0}),
                                               model.encode({"bias": 1.0, "w:crash": 1.0, "w:unknown": 1.0})])
    for head in HEADS:
        assert sum(probs[head].values()) == pytest.approx(1.0, abs=1e-5)
    assert max(probs["department"], key=probs["department"].get) == "billing"
    assert max(probs["sentiment"], key=probs["sentiment"].get) == "negative"
    assert max(probs2["department"], key=probs2["department"].get) == "product"
    assert top["department:billing"] == ["w:refund"]  # the feature that beat the runner-up


def test_empty_batch_and_unknown_features():
    model = tiny_model()
    assert model.predict([]) == []
    assert model.encode({"w:nothing-known": 1.0}) == ([], [])
    (probs, top), = model.predict([([], [])])
    assert probs["sentiment"]["negative"] == pytest.approx(1 / 3, abs=1e-5) and top == {}


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "textcat")
    loaded = LinearModel.load(tmp_path / "textcat")
    assert loaded.vocab == model.vocab and loaded.meta["version"] == "test"
    np.testing.assert_allclose(loaded.W, model.W, atol=1e-3)


def test_fit_learns_a_separable_problem():
    examples, feats = [], []
    for i in range(40):
        bill = i % 2 == 0
        feats.append({"bias": 1.0, "w:refund" if bill else "w:crash": 1.0, f"w:noise{i % 5}": 1.0})
        examples.append({"source": "labelled", "sentiment": "negative", "intent": "complaint",
                         "department": "billing" if bill else "product"})
    model = fit(feats, examples, iterations=60)
    out = model.predict([model.encode({"bias": 1.0, "w:refund": 1.0}), model.encode({"bias": 1.0, "w:crash": 1.0})])
    assert [max(p["department"], key=p["department"].get) for p, _ in out] == ["billing", "product"]


def test_fit_masks_missing_labels():
    feats = [{"bias": 1.0, "w:a": 1.0}, {"bias": 1.0, "w:b": 1.0}] * 5
    examples = [{"source": "cfpb", "sentiment": "negative", "intent": "complaint", "department": None},
                {"source": "labelled", "sentiment": "positive", "intent": "praise", "department": "support"}] * 5
    model = fit(feats, examples, iterations=30)
    (probs, _), = model.predict([model.encode({"bias": 1.0, "w:a": 1.0})])
    assert max(probs["sentiment"], key=probs["sentiment"].get) == "negative"
