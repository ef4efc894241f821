"""Hashtags read as words: split at capitals, else into the fewest known words; never a guess."""

from __future__ import annotations

import pytest

from services.classify.pipeline.classifier import Classifier
from services.classify.pipeline.hashtags import hashtag_words, split_hashtag, with_hashtag_words


@pytest.mark.parametrize(("text", "words"), [
    ("#NeverAgain", ["never again"]),
    ("#neveragain", ["never again"]),
    ("#spreadtheword and #telleveryone", ["spread the word", "tell everyone"]),
    ("#1lesscustomer", ["1 less customer"]),
    ("#nexttimeiwillflysouthwest", ["next time i will fly southwest"]),
    ("#TooManySecondChances", ["too many second chances"]),
    ("#nomoreaggravation", []),  # "aggravation" is not in the word list: no reading, no fragments
    ("#bttf #done #fail", []),  # not spelled by words, or one word already
    ("no hashtags here", []),
    ("issue &#39; escaped, and a#middle", []),
])
def test_hashtag_words(text, words) -> None:
    assert hashtag_words(text) == words


def test_a_split_needs_every_piece_to_be_a_word() -> None:
    words = frozenset({"never", "again", "fly"})
    assert split_hashtag("neverfly", words) == ["never", "fly"]
    assert split_hashtag("neverflyx", words) is None
    assert split_hashtag("NeverFlyX", words) is None


def test_the_readings_follow_the_text_on_lines_of_their_own() -> None:
    assert with_hashtag_words("@acme ugh #NeverAgain") == "@acme ugh #NeverAgain\nnever again."
    assert with_hashtag_words("@acme ugh") == "@acme ugh"


def test_a_threat_said_as_a_hashtag_raises_its_flag() -> None:
    (result,) = Classifier().classify([{"text": "@acme lost my luggage and failed to find it #wontflyagainwithyou"}])
    assert "churn_threat" in result["flags"]
    assert result["cues"]["flag:churn_threat"] == ["wont fly"]
