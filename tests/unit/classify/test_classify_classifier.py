"""services.classify.pipeline.classifier: the shipped pipeline (rules + trained heads) on realistic mentions."""

from __future__ import annotations

import pytest

from services.classify.pipeline.classifier import Classifier, analysis_of

BUCKETS = ("low", "normal", "high", "critical")


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def classify(classifier):
    def run(text: str, followers: int = 10, verified: bool = False, reposts: int | None = None) -> dict:
        mention = {"text": text, "author": {"id": "1", "followers": followers, "verified": verified}}
        if reposts is not None:
            mention["metrics"] = {"reposts": reposts}
        (result,) = classifier.classify([mention])
        return result
    return run


def at_least(bucket: str, wanted: str) -> bool:
    return BUCKETS.index(bucket) >= BUCKETS.index(wanted)


def test_double_charge_with_escalation_threat(classify):
    c = classify("@acme you charged me twice this month, refund me or I'm telling everyone")
    assert c["department"] == "billing"
    assert c["intent"] == "complaint"
    assert c["sentiment"]["label"] == "negative"
    assert "escalation_threat" in c["flags"]
    assert "telling everyone" in c["cues"]["flag:escalation_threat"]
    assert {"charged", "refund"} <= set(c["cues"]["department:billing"])
    assert c["priority"]["bucket"] in ("high", "critical")
    assert c["priority"]["components"]["flags"] > 0


def test_legal_threat(classify):
    c = classify("I've had enough. My lawyer will be in touch and I'll see you in small claims court")
    assert c["flags"] == ["legal_threat"]
    assert "lawyer" in c["cues"]["flag:legal_threat"]
    assert c["intent"] == "complaint"
    assert c["sentiment"]["label"] == "negative"
    assert c["priority"]["bucket"] == "critical"


def test_legal_threat_without_a_topic_goes_to_general_triage(classify):
    # The labelling guide: the department is who has to act on the topic, and a post that
    # names none is support's; the routing rules add the legal department for the flag.
    c = classify("I will sue you")
    assert c["flags"] == ["legal_threat"] and c["department"] == "support"


def test_churn_threat(classify):
    c = classify("I'm cancelling my subscription and switching to Globex")
    assert "churn_threat" in c["flags"]
    assert {"cancelling my subscription", "switching to globex"} <= set(c["cues"]["flag:churn_threat"])
    assert c["intent"] == "complaint"
    assert c["department"] == "billing"
    assert at_least(c["priority"]["bucket"], "high")


def test_praise(classify):
    c = classify("Thanks @acme, love the new app")
    assert c["sentiment"]["label"] == "positive"
    assert c["sentiment"]["score"] > 0.5
    assert c["intent"] == "praise"
    assert c["flags"] == []
    assert c["priority"]["bucket"] == "low"
    assert {"love", "thanks"} <= set(c["cues"]["sentiment:positive"])


def test_how_to_question(classify):
    c = classify("How do I reset my password?")
    assert c["department"] == "support"
    assert c["intent"] == "question"
    assert c["sentiment"]["label"] == "neutral"
    assert c["department_scores"]["support"] == max(c["department_scores"].values()) >= 0.9


def test_question_without_question_mark_by_opener(classify):
    assert classify("Where can I find my invoice")["intent"] == "question"


def test_safety_issue(classify):
    c = classify("My Acme charger caught fire last night and burned my desk")
    assert "safety_issue" in c["flags"]
    assert c["department"] == "pr"
    assert c["intent"] == "complaint"
    assert c["priority"]["bucket"] == "critical"


def test_threat_outranks_plain_complaint(classify):
    plain = classify("my order never arrived")
    threat = classify("my order never arrived, going to the press about this")
    assert plain["intent"] == threat["intent"] == "complaint"
    assert threat["priority"]["score"] > plain["priority"]["score"]


def test_order_number_and_money_entities(classify):
    c = classify("Where is order #AB12345? I paid $45.99 for it two weeks ago")
    entities = {(e["label"], e["value"]) for e in c["entities"]}
    assert ("order_id", "AB12345") in entities
    assert ("money", "$45.99") in entities


@pytest.mark.parametrize("text,value", [
    ("booking number 12345", "12345"),
    ("ticket: 98765", "98765"),
    ("order AB-99812 never arrived", "AB-99812"),
    ("ORDER #ab12345", "ab12345"),
])
def test_order_number_spellings(classify, text, value):
    assert {"label": "order_id", "value": value} in [{k: e[k] for k in ("label", "value")} for e in
                                                    classify(text)["entities"]]


def test_order_number_after_no_dot(classify):
    assert [e["value"] for e in classify("My booking no. 12345 was cancelled")["entities"]] == ["12345"]


def test_money_with_currency_word(classify):
    assert ("money", "45 dollars") in {(e["label"], e["value"]) for e in classify("They took 45 dollars")["entities"]}


def test_entities_are_deduplicated(classify):
    c = classify("order 1234 and order 1234 again")
    assert [e["value"] for e in c["entities"]] == ["1234"]


def test_no_entities_in_plain_text(classify):
    assert classify("Thanks @acme, love the new app")["entities"] == []


def test_priority_grows_with_followers(classify):
    text = "The app is broken again"
    scores = [classify(text, followers=f)["priority"]["score"] for f in (0, 100, 10_000)]
    assert scores[0] < scores[1] < scores[2]


def test_verified_authors_get_more_priority(classify):
    text = "The app is broken again"
    plain = classify(text, followers=500)
    verified = classify(text, followers=500, verified=True)
    assert verified["priority"]["score"] > plain["priority"]["score"]
    assert verified["priority"]["components"]["reach"] == plain["priority"]["components"]["reach"] + 5


def test_reposts_raise_virality(classify):
    quiet = classify("The app is broken again", reposts=0)
    viral = classify("The app is broken again", reposts=1000)
    assert viral["priority"]["components"]["virality"] > quiet["priority"]["components"]["virality"] == 0
    assert viral["priority"]["score"] > quiet["priority"]["score"]


def test_spam_scores_zero_even_with_reach(classify):
    c = classify("Click here for free followers!!!", followers=1_000_000, verified=True)
    assert c["intent"] == "spam"
    assert c["priority"]["score"] == 0
    assert c["priority"]["bucket"] == "low"


def test_score_is_bounded(classify):
    c = classify("Worst service ever, my lawyer will sue you, going to the press, cancelling my account, "
                 "the battery exploded and caught fire", followers=50_000_000, verified=True, reposts=10**9)
    assert 0 <= c["priority"]["score"] <= 100
    assert c["priority"]["bucket"] == "critical"
    assert c["priority"]["components"]["flags"] <= 40


def test_result_shape_and_model_version(classifier, classify):
    c = classify("hello there")
    assert c["model_version"] == classifier.model_version
    assert c["model_version"]
    assert set(c) >= {"sentiment", "intent", "flags", "department", "department_scores", "entities", "priority",
                      "cues", "model_version"}
    assert set(c["department_scores"]) == {"billing", "product", "pr", "support"}
    assert c["priority"]["bucket"] in BUCKETS


def test_department_scores_sum_to_one(classify):
    scores = classify("I was charged for an app update that crashed and support was rude")["department_scores"]
    assert sum(scores.values()) == pytest.approx(1.0, abs=0.01)


def test_neutral_text_defaults_to_support_other(classify):
    c = classify("hello there")
    assert c["intent"] == "other"
    assert c["department"] == "support"
    assert c["sentiment"]["label"] == "neutral"
    assert not [k for k in c["cues"] if k.startswith(("flag:", "spam", "sarcasm", "routing:"))]


def test_empty_text_does_not_crash(classify):
    c = classify("")
    assert c["intent"] == "other" and c["priority"]["bucket"] == "low"


def test_negated_praise_is_not_praise(classify):
    c = classify("I'm not happy with this at all")
    assert c["sentiment"]["label"] != "positive"
    assert c["intent"] != "praise"


def test_batch_preserves_order(classifier):
    texts = ["Thanks @acme, love the new app", "How do I reset my password?",
             "I'm cancelling my subscription and switching to Globex", "Click here for free followers",
             "My Acme charger caught fire"]
    results = classifier.classify([{"text": t, "author": {"id": str(i)}} for i, t in enumerate(texts)])
    assert [r["intent"] for r in results] == ["praise", "question", "complaint", "spam", "complaint"]
    singles = [classifier.classify([{"text": t, "author": {"id": "x"}}])[0] for t in texts]
    assert results == singles


def test_batch_larger_than_batch_size():
    small = Classifier(batch_size=2)
    mentions = [{"text": ("Thanks, love it" if i % 2 else "I hate this"), "author": {}} for i in range(7)]
    labels = [r["sentiment"]["label"] for r in small.classify(mentions)]
    assert labels == ["negative", "positive"] * 3 + ["negative"]


def test_empty_batch(classifier):
    assert classifier.classify([]) == []


def test_missing_author_is_tolerated(classifier):
    (c,) = classifier.classify([{"text": "The app is broken", "author": None}])
    assert c["priority"]["components"]["reach"] == 0


def test_batch_path_reads_posts_as_the_spacy_pipeline_does(classifier):
    """`Classifier.analyse` calls the components directly; it must find what `nlp.pipe` finds."""
    texts = ["@acme you charged me twice this month, refund me or I'm telling everyone",
             "my Acme Buds died, the Hooli Buds never did. @globex take note, order #A12345 £45",
             "I'm not going to sue you, just fix it", "Great, another outage. Thanks for nothing 🙄",
             "", "   ", "I'm cancelling my subscription and switching to Globex"] * 3
    small = Classifier(batch_size=4)
    for c in (classifier, small):
        assert c.analyse(texts) == [analysis_of(doc) for doc in c.nlp.pipe(texts, batch_size=c.batch_size)]
