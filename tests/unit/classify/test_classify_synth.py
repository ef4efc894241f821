"""services.classify.synth_social: the second template set is reproducible, fully filled,
labels sentiment and intent only, and covers every sentiment and industry."""

from __future__ import annotations

from collections import Counter

from services.classify.synth import generate
from services.classify.synth_social import _SLOTS, generate_social


def test_generate_social_is_deterministic_and_sized():
    assert generate_social(300) == generate_social(300)
    assert len(generate_social(300)) == 300
    assert generate_social(300, seed=1) != generate_social(300, seed=2)


def test_every_template_slot_is_filled():
    for row in generate_social(3000):
        assert "{" not in row["text"] and "}" not in row["text"], row["text"]
        assert row["text"] == " ".join(row["text"].split())


def test_rows_label_sentiment_and_intent_but_never_department():
    rows = generate_social(3000)
    assert all(r["department"] is None and r["source"] == "synthetic" for r in rows)
    sentiments = Counter(r["sentiment"] for r in rows)
    assert set(sentiments) == {"negative", "neutral", "positive"}
    assert all(count > 300 for count in sentiments.values())
    pairs = {(r["sentiment"], r["intent"]) for r in rows}
    assert pairs <= {("negative", "complaint"), ("neutral", "question"), ("neutral", None), ("positive", "praise")}


def test_industries_are_spread_not_one_domain():
    text = " ".join(r["text"].lower() for r in generate_social(4000))
    seen = [name for name, slots in _SLOTS.items() if any(h.lower() in text for h in slots["h"])]
    assert len(seen) == len(_SLOTS)


def test_social_templates_do_not_repeat_the_first_set():
    first = {r["text"].lower() for r in generate(2000)}
    assert not first & {r["text"].lower() for r in generate_social(2000)}
