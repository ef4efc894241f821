"""services.classify.pipeline.features: negation, contrast, lexicon and rule features."""

from __future__ import annotations

import pytest

from services.classify.pipeline.classifier import build_pipeline
from services.classify.pipeline.features import Featurizer, cue_words, emoji_valence, extract

LEXICON = {"happy": 2.7, "great": 3.1, "bad": -2.5, "broken": -2.0, "love": 3.2}


@pytest.fixture(scope="module")
def nlp():
    return build_pipeline(with_textcat=False)


def feats(nlp, text: str) -> dict[str, float]:
    return extract(nlp(text), LEXICON)


def test_negation_scope_marks_the_words_it_covers(nlp):
    f = feats(nlp, "I'm not happy with this. Great service though")
    assert "nw:happy" in f and "w:happy" not in f
    assert "w:great" in f  # the full stop ended the scope


def test_negated_positive_word_counts_as_negative(nlp):
    doc = nlp("not happy")
    f = extract(doc, LEXICON)
    assert "lex:neg" in f and "lex:pos" not in f
    assert doc._.polar_words == {"positive": [], "negative": ["not happy"]}


def test_but_shifts_weight_to_the_second_clause(nlp):
    mixed = feats(nlp, "love the phone but the screen is broken")
    assert mixed.get("lex:mixed") == 1.0
    # 3.2 * 0.5 before "but" against -2.0 * 1.5 after it: the post reads negative overall.
    assert "lex:compound-" in mixed and "lex:compound+" not in mixed


def test_emoji_and_elongation(nlp):
    assert emoji_valence("😡") < 0 < emoji_valence("❤️")
    f = feats(nlp, "sooooo bad 😡")
    assert f["elongated"] == 1.0
    assert f["lex:neg"] > feats(nlp, "so bad")["lex:neg"]


def test_question_and_rule_features(nlp):
    f = feats(nlp, "@acme how do I cancel my contract?")
    assert f["question_mark"] == 1.0 and f["opener:how"] == 1.0
    assert f["rule:flag:churn_threat"] > 0
    assert "w:<user>" in f and "b:<s> <user>" not in f


def test_featurizer_cache_gives_the_same_features(nlp):
    featurizer = Featurizer(LEXICON)
    doc = nlp("not happy, the app is BROKEN again!!")
    first = featurizer(doc)
    assert featurizer(nlp("not happy, the app is BROKEN again!!")) == first == extract(doc, LEXICON)


def test_cue_words_are_readable():
    assert cue_words("w:refund") == ["refund"]
    assert cue_words("nw:happy") == ["not happy"]
    assert cue_words("b:on hold") == ["on hold"]
    assert cue_words("w:the") == [] and cue_words("w:<user>") == [] and cue_words("bias") == []
    assert cue_words("lex:neg", {"negative": ["awful"], "positive": []}) == ["awful"]
    assert cue_words("rule:flag:legal_threat", rules={"flag:legal_threat": ["lawyer"]}) == ["lawyer"]
