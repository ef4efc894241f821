"""services.classify.pipeline.embeddings and the dense block of the linear heads (fit, save, predict)."""

from __future__ import annotations

import numpy as np
import pytest

from services.classify.distill import pca, sif_weights, word_list, words_of
from services.classify.pipeline.classifier import build_pipeline
from services.classify.pipeline.embeddings import Embeddings
from services.classify.pipeline.features import Featurizer
from services.classify.pipeline.textcat import HEADS, LinearModel
from services.classify.train import fit

N_LABELS = sum(len(v) for v in HEADS.values())


def tiny_embeddings() -> Embeddings:
    return Embeddings(["awful", "great", "slow", "fast"],
                      np.array([[-1.0, 0.0], [1.0, 0.0], [-0.5, 1.0], [0.5, 1.0]], dtype=np.float16))


def test_row_tries_elongation_free_and_hashtag_free_spellings():
    emb = tiny_embeddings()
    assert emb.row("awful") == 0
    assert emb.row("sloww") == 2  # `normal_form` leaves two letters of "slowwww"; the look-up cuts to one
    assert emb.row("#great") == 1
    assert emb.row("<user>") == -1 and emb.row("unknownword") == -1


def test_mean_is_per_post_and_zero_for_posts_without_known_words():
    emb = tiny_embeddings()
    out = emb.mean([[0, 1], [], [2]])
    assert out.shape == (3, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.0], [0.0, 0.0], [-0.5, 1.0]])
    assert emb.mean([]).shape == (0, 2)
    np.testing.assert_array_equal(emb.mean([[], []]), np.zeros((2, 2)))


def test_featurizer_records_the_rows_of_known_words():
    nlp = build_pipeline(with_textcat=False)
    featurizer = Featurizer({}, tiny_embeddings())
    doc = nlp("@acme so SLOWWW and awful, 10 mins")
    featurizer(doc)
    assert doc._.embedding_rows == [2, 0]
    plain = nlp("awful")
    Featurizer({})(plain)
    assert plain._.embedding_rows is None  # without vectors nothing is recorded


def test_fit_learns_a_dense_block_for_the_chosen_heads_only():
    # Same sparse features everywhere: only the dense column tells the classes apart.
    feats = [{"bias": 1.0}] * 40
    dense = np.array([[1.0, 0.3]] * 20 + [[-1.0, 0.3]] * 20, dtype=np.float32) + 5.0
    examples = ([{"source": "labelled", "sentiment": "positive", "intent": "praise", "department": "billing"}] * 20
                + [{"source": "labelled", "sentiment": "negative", "intent": "complaint", "department": "product"}] * 20)
    model = fit(feats, examples, iterations=80, dense=dense, vector_heads=("sentiment",), heads=dict(HEADS))
    assert model.D is not None and model.D.shape == (2, N_LABELS)
    assert not model.D[:, 3:].any()  # intent and department columns stay zero
    enc = [model.encode({"bias": 1.0})] * 2
    out = model.predict(enc, explain=False, dense=dense[[0, 39]])
    assert [max(p["sentiment"], key=p["sentiment"].get) for p, _ in out] == ["positive", "negative"]
    with pytest.raises(ValueError):
        model.predict(enc)


def test_dense_block_survives_save_and_load(tmp_path):
    W = np.zeros((1, N_LABELS), dtype=np.float32)
    D = np.arange(2 * N_LABELS, dtype=np.float32).reshape(2, N_LABELS) / 10
    LinearModel(["bias"], W, np.zeros(N_LABELS, dtype=np.float32), dict(HEADS), {"version": "t"}, dense=D).save(tmp_path)
    loaded = LinearModel.load(tmp_path)
    np.testing.assert_array_equal(loaded.D, D)
    LinearModel(["bias"], W, np.zeros(N_LABELS, dtype=np.float32), dict(HEADS), {"version": "t"}).save(tmp_path)
    assert LinearModel.load(tmp_path).D is None


def test_distill_helpers_need_no_encoder():
    assert words_of("Sooooo SLOW!!! don't #fail") == ["soo", "slow", "don't", "fail"]
    assert word_list(["the", "##ing", "a", "x", "[CLS]", "12"], {"good": 1.9, ":)": 2.0}, {"refund": 3, "once": 1}) \
        == ["a", "good", "refund", "the"]
    weights = sif_weights(["the", "refund", "unseen"], {"the": 90, "refund": 10})
    assert weights[0] < weights[1] < weights[2] == 1.0
    rng = np.random.default_rng(0)
    reduced, explained = pca(rng.normal(size=(50, 6)), 3)
    assert reduced.shape == (50, 3) and 0 < explained.sum() <= 1 and np.all(np.diff(explained) <= 0)
