"""services.classify.pipeline.tokenizer: social-text tokens and their normal forms."""

from __future__ import annotations

import pytest

from services.classify.pipeline.tokenizer import elongated, lookup_forms, make_nlp, normal_form


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def words(nlp, text: str) -> list[str]:
    return [t.text for t in nlp(text)]


def test_hashtags_and_handles_stay_whole(nlp):
    assert words(nlp, "@AcmeHelp #BoycottAcme #fail!") == ["@AcmeHelp", "#BoycottAcme", "#fail", "!"]


def test_order_hash_number_is_one_token_and_a_bare_hash_still_splits(nlp):
    assert words(nlp, "order #AB123") == ["order", "#AB123"]
    assert words(nlp, "# 5") == ["#", "5"]


def test_urls_stay_whole(nlp):
    assert words(nlp, "see https://acme.example/x?y=1 now") == ["see", "https://acme.example/x?y=1", "now"]


def test_emoji_are_split_from_words_and_each_other(nlp):
    assert words(nlp, "still waiting😡😡") == ["still", "waiting", "😡", "😡"]


def test_elongated_word_is_one_token(nlp):
    assert words(nlp, "sooooo slowwww") == ["sooooo", "slowwww"]


@pytest.mark.parametrize("text,form", [
    ("@acme", "<user>"), ("https://x.example", "<url>"), ("www.acme.example", "<url>"), ("45.99", "<num>"),
    ("$45", "<num>"), ("#Fail", "fail"), ("SOOOOO", "soo"), ("Great", "great"), ("can’t", "can't"), ("#", "#"),
])
def test_normal_form(text, form):
    assert normal_form(text) == form


def test_elongation_detection_and_lexicon_spellings():
    assert elongated("soooo") and not elongated("good") and not elongated("111")
    assert lookup_forms("sloww") == ("sloww", "slow")
    assert lookup_forms("good") == ("good", "god")  # callers try the second form only for elongated words
