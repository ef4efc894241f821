"""Flag vetoes: idioms and third-party events that share a flag's words lower it, with the
words recorded; the real thing is still flagged."""

from __future__ import annotations

import pytest

from services.classify.pipeline.classifier import Classifier


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.mark.parametrize("text", [
    "@acme and to add insult to injury you lost my bag",
    "@acme your late fee will hurt my credit score",
    "I am a victim of identity theft and these accounts are not mine, please remove them",
    "@acme trying to get home to my sick kid and you cancelled my flight",
    "@acme my Kindle Fire was left on the plane, row 9",
])
def test_a_vetoed_wording_lowers_safety(classifier, text) -> None:
    (result,) = classifier.classify([{"text": text}])
    assert "safety_issue" not in result["flags"]


def test_the_veto_is_explained(classifier) -> None:
    (result,) = classifier.classify([{"text": "@acme and to add insult to injury you lost my bag"}])
    assert "insult to injury" in result["cues"]["vetoed:safety_issue"]
    assert "raised by: injury" in result["cues"]["vetoed:safety_issue"]


@pytest.mark.parametrize("text", [
    "@acme the charger sparked and burned my hand",
    "@acme my son got food poisoning from your chicken",
])
def test_the_real_thing_is_still_flagged(classifier, text) -> None:
    (result,) = classifier.classify([{"text": text}])
    assert "safety_issue" in result["flags"]
