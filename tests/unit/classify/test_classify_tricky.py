"""The shipped classifier on the cases the issue calls tricky: sarcasm, negation, praise with
a complaint, threats in praise, other languages. Each asserts what an agent would decide."""

from __future__ import annotations

import pytest

from services.classify.pipeline.classifier import Classifier
from tests.support import validate_payload


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def classify(classifier):
    def run(text: str, **mention) -> dict:
        (result,) = classifier.classify([{"text": text, "author": {"id": "1"}, **mention}])
        validate_payload("Classification", result)
        return result
    return run


@pytest.mark.parametrize("text", [
    "Oh great, another update that breaks the app. Thanks a lot @acme 🙄",
    "Love how my phone dies at 40% battery. Fantastic engineering @acme /s",
    "wow @acme, 2 hours on hold. really love how much you value my time",
])
def test_sarcasm_is_a_negative_complaint(classify, text):
    c = classify(text)
    assert c["sentiment"]["label"] == "negative"
    assert c["intent"] == "complaint"


def test_sarcasm_marker_is_in_the_cues(classify):
    c = classify("Thanks a lot @acme, exactly what I needed 🙄")
    assert c["sentiment"]["label"] == "negative"
    assert "sarcasm" in c["cues"]


@pytest.mark.parametrize("text", ["I'm not happy with the service at all @acme",
                                  "@acme the support was not helpful in the slightest"])
def test_negated_praise_is_negative(classify, text):
    c = classify(text)
    assert c["sentiment"]["label"] == "negative"
    assert c["intent"] == "complaint"


@pytest.mark.parametrize("text", ["@acme never had a problem with you in 8 years", "@acme I can't fault the service"])
def test_negated_complaint_is_not_negative(classify, text):
    assert classify(text)["sentiment"]["label"] != "negative"


@pytest.mark.parametrize("text,department", [
    pytest.param("Love the phone but the battery dies by lunchtime since the update @acme", "product", marks=pytest.mark.xfail(
        strict=True, reason="model +b5f91c8d reads 'love … but' as feedback (0.38 against complaint 0.31); turning "
                            "negative feedback into complaint lost 0.015 intent macro-F1 on the real dev half")),
    ("The staff were lovely but my parcel is two weeks late @acme", "support"),
    ("Great service, shame about the £10 price rise every year @acme", "billing"),
])
def test_praise_with_a_complaint_is_a_complaint(classify, text, department):
    c = classify(text)
    assert c["intent"] == "complaint"
    assert c["sentiment"]["label"] == "negative"
    assert c["department"] == department


def test_threat_words_in_praise_are_not_flags(classify):
    c = classify("@acme thank you!! I'll definitely be telling everyone how good your service was")
    assert c["flags"] == []
    assert c["intent"] == "praise"
    assert "suppressed:escalation_threat" in c["cues"]


def test_safety_incident_goes_to_pr_and_is_critical(classify):
    c = classify("@acme my Acme Kettle sparked and caught fire in the kitchen", author={"followers": 50})
    assert c["flags"] == ["safety_issue"]
    assert c["department"] == "pr" and c["cues"]["routing:pr"] == ["safety_issue"]
    assert c["priority"]["bucket"] in ("high", "critical")


def test_e2e_complaint_lands_in_billing_with_escalation(classify):
    c = classify("@acme you charged me twice this month, refund me or I'm telling everyone")
    assert c["department"] == "billing" and c["flags"] == ["escalation_threat"]
    assert c["model_version"].startswith("textcat-linear-")


@pytest.mark.parametrize("text,language,words,department", [
    ("@acme vous m'avez facturé deux fois ce mois-ci, je veux un remboursement", "fr",
     {"sentiment:negative": ["facturé deux fois", "remboursement"], "department:billing": ["facturé", "remboursement"]},
     "billing"),
    ("@acme el servicio es un desastre, llevo tres días sin internet", "es",
     {"sentiment:negative": ["desastre", "sin internet"]}, "support"),
])
def test_languages_with_cue_lists_get_their_sentiment_and_department_words(classify, text, language, words, department):
    c = classify(text)  # no "language" field: detected here
    assert c["language"] == language
    assert c["sentiment"]["label"] == "negative" and c["intent"] == "complaint"
    assert c["flags"] == [] and c["department"] == department  # support when no department word matched
    assert c["cues"] == {"fallback:language": [language], **words}
    assert c["priority"]["components"]["language"] == 15


def test_other_languages_get_language_and_a_neutral_fallback(classify):
    c = classify("@acme 我的账户被重复扣款了，请尽快退款")
    assert c["language"] == "zh"
    assert c["sentiment"] == {"label": "neutral", "score": 0.0}
    # no cue of its language: a post to a care account that does not ask is read as a complaint
    assert c["intent"] == "complaint" and c["flags"] == [] and c["department"] == "support"
    assert c["cues"] == {"fallback:language": ["zh"]}
    assert classify("@acme 我的账户什么时候能退款？")["intent"] == "question"
    assert c["priority"]["components"]["language"] == 15 and c["priority"]["bucket"] == "normal"


def test_language_from_the_mention_wins_over_detection(classify):
    assert classify("refund me now", language="de")["language"] == "de"
    english = classify("refund me now", language=None)  # ingest abstained: read as English
    assert english["language"] == "en" and english["department"] == "billing"
    assert classify("refund me now", language="en-GB")["language"] == "en"


def test_mixed_batch_keeps_order(classifier):
    mentions = [{"text": "hola, gracias por todo, muy amable", "author": {}},
                {"text": "@acme the app keeps crashing", "author": {}},
                {"text": "bonjour, ma commande n'est pas arrivée", "author": {}}]
    out = classifier.classify(mentions)
    assert [c["language"] for c in out] == ["es", "en", "fr"]
    assert out[1]["department"] == "product"


def test_non_english_set_threats_caught_and_no_topic_guessed(classifier):
    """tests/data/non_english_mentions.jsonl: 20 posts in 10 languages, complaints and threats among them.
    Spanish, German, French and Portuguese threats and sentiment words are caught by the
    configuration's multilingual cues; every other language gets no guess at all."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "non_english_mentions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    detected = classifier.classify([{"text": r["text"], "author": {}} for r in rows])  # language detected here
    given = classifier.classify([{"text": r["text"], "language": r["language"], "author": {}} for r in rows])
    threats = {"nx-006": ["churn_threat"], "nx-018": ["legal_threat"], "nx-019": ["churn_threat"],
               "nx-020": ["escalation_threat"]}
    positive = {"nx-004", "nx-008"}
    negative = {"nx-001", "nx-002", "nx-003", "nx-005", "nx-006", "nx-007", "nx-018", "nx-019", "nx-020"}
    for row, c in zip(rows, given, strict=True):
        assert c["language"] == row["language"], row["id"]
        assert c["flags"] == threats.get(row["id"], []), row["id"]
        expected = "positive" if row["id"] in positive else "negative" if row["id"] in negative else "neutral"
        if row["language"] in ("es", "de", "fr", "pt"):
            assert c["sentiment"]["label"] == expected, row["id"]
        else:
            asks = any(mark in row["text"] for mark in "?？¿")
            assert c["sentiment"]["label"] == "neutral", row["id"]
            assert c["intent"] == ("question" if asks else "complaint"), row["id"]
        assert c["cues"]["fallback:language"] == [row["language"]]
    # Detection may abstain on a short post (then it is read as English); it must never mislabel one.
    assert sum(c["language"] == r["language"] for r, c in zip(rows, detected, strict=True)) >= 15
