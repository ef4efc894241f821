"""The classifier's fast paths give exactly what the straightforward code gives.

Each fast path is compared with its plain reference on varied posts (emoji, URLs, handles,
hashtags, non-ASCII, empty and very long text, the pair markers `<s>`/`</s>` typed as words):
- the tokenizer with spaCy's chunk cache raised (`TOKENIZER_CACHE_CHUNKS`) against one that
  caches nothing, on first and repeated posts;
- `Featurizer.rows` + `LinearModel.encode_rows` against `Featurizer.features` (names) +
  `LinearModel.encode_batch`, array for array, with warm, cold and full caches;
- `_rank` against `np.lexsort`;
- `TextClassifier.read` against the name path and `predict_batch` with lexsort.
"""

from __future__ import annotations

import numpy as np
import pytest

from services.classify.pipeline import features as features_module
from services.classify.pipeline.classifier import _ORTH_LOWER, Classifier
from services.classify.pipeline.features import Featurizer
from services.classify.pipeline.textcat import TextClassifier, _rank, _words
from services.classify.pipeline.tokenizer import make_nlp

TEXTS = [
    "@acme you charged me twice this month, refund me or I'm telling everyone",
    "my Acme Buds died, the Hooli Buds never did. @globex take note, order #A12345 £45",
    "I'm not going to sue you, just fix it", "Great, another outage. Thanks for nothing 🙄",
    "", " ", "   ", "\n\t", "😡😡😡", "I ❤️ you @acme 👍🏽👍🏽 #blessed #BoycottAcme",
    "https://t.co/abc123 is broken!!! www.example.com/x?y=1 #fail", "@a @b @c",
    "Çà va? naïve café résumé — «très» bien", "日本語のテキスト", "مرحبا بالعالم",
    "NOT HAPPY AT ALL!!! sooooo slowwwww", "can't won't don't isn't CAN'T", "not not not happy but great",
    "$5 refund? order #AB12345 ref: XY-123, 3pm, 45 mins, 2nd time", "<s> </s> <user> b: w:x nw:y",
    "the the the the the", "’quotes’ “double” it’s", "\u200b\u200d zero width", "a" * 3000,
    " ".join(["good service", "awful delay", "thanks", "@united", "#fail", "😡"] * 400),
    "How do I change the email address on my account?", "pls help, u there?",
]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def _tokens(doc) -> list[tuple]:
    return [(t.text, t.whitespace_, t.idx, t.orth, t.lower, t.norm_) for t in doc]


def test_raised_tokenizer_cache_gives_the_tokens_of_no_cache():
    cached, uncached = make_nlp(), make_nlp()
    uncached.tokenizer.max_cache_size = 0
    for _ in range(2):  # first: chunks are cached; second: read from the cache
        for text in TEXTS:
            assert _tokens(cached.make_doc(text)) == _tokens(uncached.make_doc(text))


def _featurized(classifier: Classifier, featurizer: Featurizer):
    docs = [classifier.nlp.make_doc(t) for t in TEXTS]
    attrs = [doc.to_array(_ORTH_LOWER).T.tolist() for doc in docs]
    found = [classifier._entities.find(doc, text) for doc, text in zip(docs, TEXTS, strict=True)]
    cues = [classifier._cues.find(doc, ents, lowers) for doc, (_, ents), (_, lowers) in zip(docs, found, attrs, strict=True)]
    return [(doc, c, e, orths) for doc, c, (e, _), (orths, _) in zip(docs, cues, found, attrs, strict=True)]


@pytest.mark.parametrize("limit", [500_000, 3])  # 3: every cache and the form-number table full
def test_rows_are_the_known_features_in_order(classifier, monkeypatch, limit):
    monkeypatch.setattr(features_module, "_CACHE_LIMIT", limit)
    textcat: TextClassifier = classifier._textcat
    model = textcat.model
    fresh = Featurizer(textcat.featurize.lexicon, textcat.embeddings, model.index)
    for _ in range(2):  # cold, then warm caches
        inputs = _featurized(classifier, fresh)
        named = [fresh.features(*args) for args in inputs]
        rowed = [fresh.rows(*args) for args in inputs]
        for (names, polar, rows), (by_row, polar2, rows2) in zip(named, rowed, strict=True):
            expected = [(model.index[n], v) for n, v in names.items() if n in model.index]
            assert list(by_row.items()) == expected
            assert (polar, rows) == (polar2, rows2)
        a = model.encode_batch([f for f, _, _ in named])
        b = model.encode_rows([f for f, _, _ in rowed])
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


def test_rank_is_lexsort_by_post_then_margin():
    rng = np.random.default_rng(7)
    for n in (0, 1, 5, 1000):
        docs = np.sort(rng.integers(0, 300, n))
        margins = (rng.random(n) * 3 + 0.0501).astype(np.float32)
        margins[::5] = margins[0] if n else margins[::5]  # ties keep feature order
        assert _rank(docs, margins).tolist() == np.lexsort((-margins, docs)).tolist()


def test_read_matches_the_name_path_with_lexsort(classifier, monkeypatch):
    textcat: TextClassifier = classifier._textcat
    inputs = _featurized(classifier, textcat.featurize)
    docs, cues, ents, orths = (list(x) for x in zip(*inputs, strict=True))
    fast = textcat.read(docs, cues, ents, orths)
    monkeypatch.setattr("services.classify.pipeline.textcat._rank", lambda d, m: np.lexsort((-m, d)))
    named = [textcat.featurize.features(*args) for args in inputs]
    model = textcat.model
    dense = textcat.embeddings.mean([r for _, _, r in named]) if textcat.embeddings else None
    predicted = model.predict_batch(model.encode_batch([f for f, _, _ in named]), True, dense)
    for (probs, explanation, polar, rows), (_, polar2, rows2), (probs2, top), rules in zip(
            fast, named, predicted, cues, strict=True):
        assert probs == probs2 and (polar, rows) == (polar2, rows2)
        assert explanation == {key: _words(names, polar2, rules, textcat._fixed_words) for key, names in top.items()}


def test_analyse_is_stable_across_repeats(classifier):
    """Caches fill on the first pass: later passes read the same."""
    first = classifier.analyse(TEXTS)
    assert classifier.analyse(TEXTS) == first == classifier.analyse(TEXTS)


def test_cue_words_from_orth_ids_are_the_span_texts(classifier):
    texts = [*TEXTS, "refund refund my money, lawyer, see you in court", "Charged TWICE! Refund pls #Refund"]
    for text in texts:
        doc = classifier.nlp.make_doc(text)
        orths, lowers = doc.to_array(_ORTH_LOWER).T.tolist() if len(doc) else ([], [])
        _, ents = classifier._entities.find(doc, text)
        assert classifier._cues.find(doc, ents, lowers, orths) == classifier._cues.find(doc, ents)
