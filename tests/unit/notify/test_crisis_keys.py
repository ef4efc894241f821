"""Crisis detection, the pure part: which negative mentions count where, and when a window is hot."""

from __future__ import annotations

from services.notify.crisis import CrisisConfig, is_negative, negative_mention, scope_keys, threshold

MENTION = {"id": "4a8f8caf-1209-5919-8542-a6d933509d09", "channel": "x", "created_at": "2026-01-30T16:00:00Z",
           "text": "@AcmeHelp @acmehelp my Acme Router X2 caught fire!! cc @BBCNews",
           "author": {"id": "u1", "followers": 12000, "verified": False}, "url": "https://x.com/u1/status/1"}
CLASSIFICATION = {"sentiment": {"label": "negative", "score": 0.93}, "intent": "complaint", "department": "product",
                  "entities": [{"label": "product", "text": "Acme Router X2", "value": "Acme Router X2"},
                               {"label": "money", "text": "$5", "value": "5.00"}]}


def test_keys_are_bounded_and_never_personal():
    assert scope_keys(MENTION, CLASSIFICATION) == [
        ("brand", "all"), ("brand", "@acmehelp"), ("brand", "@bbcnews"), ("product", "acme router x2"),
        ("topic", "product")]
    email = {**MENTION, "channel": "email"}
    assert ("brand", "@acmehelp") not in scope_keys(email, CLASSIFICATION)  # handles only mean brands on social
    many = {**MENTION, "text": " ".join(f"@brand{i}" for i in range(10))}
    assert len([k for k in scope_keys(many, CLASSIFICATION) if k[0] == "brand"]) == 4
    odd = {**CLASSIFICATION, "entities": [{"label": "product", "value": "Acme\x1fPhone"}]}
    assert ("product", "acmephone") in scope_keys(MENTION, odd)  # the separator of the stored key lists


def test_only_negative_non_spam_mentions_count():
    assert is_negative(CLASSIFICATION)
    assert not is_negative({**CLASSIFICATION, "intent": "spam"})
    assert not is_negative({**CLASSIFICATION, "sentiment": {"label": "neutral", "score": 0.5}})
    assert negative_mention(MENTION, {**CLASSIFICATION, "sentiment": {"label": "positive", "score": 0.9}}) is None
    negative = negative_mention(MENTION, CLASSIFICATION)
    assert negative.mention_id == MENTION["id"].lower() and negative.followers == 12000
    assert negative.excerpt == MENTION["text"] and negative.score == 0.93
    assert negative.keys == tuple(scope_keys(MENTION, CLASSIFICATION))
    long = negative_mention({**MENTION, "text": "bad " * 100}, CLASSIFICATION).excerpt
    assert len(long) == 200 and long.endswith("…")


def test_excerpts_are_masked_unless_allowed():
    from services.common import pii

    text = "charged twice on 4111 1111 1111 1111, mail jo.doe@example.com"
    try:
        pii.configure(())
        assert negative_mention({**MENTION, "text": text}, CLASSIFICATION).excerpt == "charged twice on [card ending 1111], mail [email]"
        pii.configure(("card", "email"))
        assert negative_mention({**MENTION, "text": text}, CLASSIFICATION).excerpt == text
    finally:
        pii.configure(None)


def test_hot_threshold_is_the_larger_of_the_floor_and_the_multiple_of_the_usual():
    config = CrisisConfig(window_s=900, baseline_s=86400, multiple=3.0, min_count=20)
    assert threshold(0, config) == (0.0, 20.0)  # no history: the floor decides
    usual, hot = threshold(96 * 10, config)  # ten per window all day
    assert usual == 10.0 and hot == 30.0
