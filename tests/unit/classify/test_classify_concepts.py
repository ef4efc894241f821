"""Concept cues, multilingual cues, brands and the learned half of each flag (pure logic)."""

from __future__ import annotations

import dataclasses

import pytest

from services.classify.pipeline.classifier import Analysis, _stated_intent, decide, fallback
from services.classify.pipeline.concepts import (
    BrandFinder,
    ConceptCues,
    MultilingualCues,
    choosing_rival_cues,
    competitor_words,
    mentioned_others,
    rival_cues,
    shared_words,
)
from services.classify.pipeline.config import Brand, load_config


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.mark.parametrize("text,flag", [
    ("next stop is the local news consumer desk", "escalation_threat"),
    ("screenshotting this for tiktok", None),  # no intention word: left to the head
    ("1 star review going up tonight", "escalation_threat"),
    ("I'm gonna be posting my bill on every platform", "escalation_threat"),
    ("moving my mortgage to Crestline Credit Union", "churn_threat"),
    ("never flying with you people again", "churn_threat"),
    ("I will be filing a complaint with the FCC", "legal_threat"),
    ("the charger caught fire overnight", "safety_issue"),
    ("Trackwise never did this to us", "competitor_mention"),
])
def test_concepts_match_phrasings_no_list_names(config, text, flag):
    found = ConceptCues(config).find(text)
    if flag is None:
        assert "concept:escalation_threat" not in found
    else:
        assert f"concept:{flag}" in found and found[f"concept:{flag}"]


def test_concepts_keep_plain_posts_clean(config):
    assert ConceptCues(config).find("@acme how do I change my delivery address?") == {}
    # "sick" as praise and "sick of" as annoyance are not health problems
    assert "concept:safety_issue" not in ConceptCues(config).find("I'm sick of waiting on hold")


@pytest.mark.parametrize("text,language,key", [
    ("Me voy a Corvane, pésimo servicio", "es", "flag:churn_threat"),
    ("Ich kündige", "de", "flag:churn_threat"),
    ("je vais porter plainte", "fr", "flag:legal_threat"),
    ("vou reclamar no reclame aqui", "pt", "flag:escalation_threat"),
    ("pésimo servicio", "es", "sentiment:negative"),
])
def test_multilingual_cues_per_language(config, text, language, key):
    assert key in MultilingualCues(config).find(text, language)


def test_multilingual_cues_are_per_language(config):
    assert MultilingualCues(config).find("Ich kündige", "it") == {}


def test_brand_finder_prefers_the_addressed_handle():
    united = Brand("United", handles=("united",), names=("United",), competitors=("Delta",))
    delta = Brand("Delta", handles=("delta",), names=("Delta",), competitors=("United",))
    finder = BrandFinder((united, delta))
    assert finder.find("@united three hours late, @Delta would never") is united
    assert finder.find("flying Delta today") is delta
    assert finder.find("no brand here") is None
    assert finder.find("no brand here", hint="@Delta") is delta
    # Delta is a competitor of United's post, never of its own
    assert competitor_words({"flag:competitor_mention": ["Delta"]}, united) == ["Delta"]
    assert competitor_words({"flag:competitor_mention": ["Delta", "@delta"]}, delta) == []


def _analysis(p_yes: float, cues: dict[str, list[str]] | None = None) -> Analysis:
    probs = {"sentiment": {"negative": 0.8, "neutral": 0.1, "positive": 0.1},
             "intent": {"complaint": 0.9, "question": 0.02, "praise": 0.02, "feedback": 0.02, "spam": 0.02, "other": 0.02},
             "department": {"billing": 0.7, "product": 0.1, "pr": 0.1, "support": 0.1},
             "flag:churn_threat": {"no": 1 - p_yes, "yes": p_yes}}
    explanation = {"flag:churn_threat:yes": ["elsewhere"], "flag:churn_threat:no": ["bill"]}
    return Analysis(probs, explanation, cues or {}, [])


def test_a_flag_head_raises_its_flag_at_the_configured_threshold(config):
    strict = dataclasses.replace(config, flag_thresholds={"churn_threat": 0.8})
    low = decide(_analysis(0.7, {"concept:churn_threat": ["take my business"]}), {"text": "x"}, strict, "v")
    assert low["flags"] == []
    high = decide(_analysis(0.9, {"concept:churn_threat": ["take my business"]}), {"text": "x"}, strict, "v")
    assert high["flags"] == ["churn_threat"]
    # explained by the concept words and the head's words, never by an opaque score alone
    assert high["cues"]["flag:churn_threat"] == ["elsewhere", "take my business"]
    assert not any(k.startswith("flag:churn_threat:") for k in high["cues"])


def test_concept_gates_never_hide_a_match(config, gate_texts):
    """The gates only skip work: on the labelled rows and the template texts every flag's
    patterns find the same with and without them."""
    gated, ungated = ConceptCues(config), ConceptCues(dataclasses.replace(config, concept_gates={}))
    assert all(gated.find(t) == ungated.find(t) for t in gate_texts)
    assert set(gated.gates) == set(config.concepts)


def test_the_companies_a_post_addresses_are_not_others_it_names():
    assert mentioned_others("@USAirways @AmericanAir what are your carry-on limits?") == []
    assert mentioned_others("@AmericanAir needs an overhaul @Delta would never treat us so") == ["@Delta"]
    assert mentioned_others("@115913 @115911 moved house, @117241 says hi") == []  # anonymised customers


def rivals(text: str) -> list[str]:
    return rival_cues(text, [], mentioned_others(text))


def test_another_company_in_a_comparison_or_switch_frame_is_a_rival_without_any_list():
    assert rivals("@united you suck. @SouthwestAir you're the best.") == ["@southwestair"]
    assert rivals("@JetBlue loves cancelling tickets and not telling anyone #flyunited") == ["#flyunited"]
    assert rivals("@united boarding is slow #flying #travel") == []
    assert rivals("@USAirways @AmericanAir delayed twice, both my flights") == []  # both addressed
    assert rivals("@acme thanks @jane for the tip about the invoice") == []  # no rival frame


def chosen(text: str) -> list[str]:
    return choosing_rival_cues(text, mentioned_others(text))


def test_picking_another_company_is_a_churn_cue_without_a_word_of_leaving():
    assert chosen("@united this is why I fly @SouthwestAir ... Never have any issues") == ["fly @southwestair"]
    assert chosen("@AmericanAir well I'm flying @JetBlue instead - for free!") == ["flying @jetblue"]
    assert chosen("@united I'm switching back to @Delta") == ["switching back to @delta"]
    assert chosen("@JetBlue loves cancelling tickets #flyunited") == ["#flyunited"]
    # a rebooking the author did not choose, the brand itself, and a comparison without a move
    assert chosen("@SouthwestAir had to fly @Delta MCO-CMH because we couldn't reach you") == []
    assert chosen("@Delta I love to fly @Delta") == []
    assert chosen("@united you suck. @SouthwestAir you're the best.") == []


def test_the_classifier_raises_churn_where_the_post_picks_the_rival_it_names():
    from services.classify.pipeline.classifier import Classifier

    picked, compared = Classifier().classify([
        {"text": "@united fyi the app still shows the sold out flights. Flying @AmericanAir", "author": {}},
        {"text": "@united the proper response: sorry for the wait. That's how @Delta would handle it", "author": {}}])
    assert {"churn_threat", "competitor_mention"} <= set(picked["flags"])
    assert picked["cues"]["flag:churn_threat"] == ["flying @americanair"]
    assert "churn_threat" not in compared["flags"] and "competitor_mention" in compared["flags"]


@pytest.mark.parametrize("text,words", [
    ("@JetBlue's CEO battles to appease passengers and Wall Street - Waterbury Republican American http://t.co/Xf9M",
     ["waterbury republican american"]),
    ("@JetBlue Airways Corporation (JBLU) loses -0.06% on news - WallStreet Scope http://t.co/oFW4", ["wallstreet scope"]),
    ("RT @acme: Our stores will close early on 24 December.", ["rt @acme"]),
    ("\u201c@USAirways: Reminder: From 2/28, we\u2019ll be tweeting from @AmericanAir.\u201d http://t.co/WBMH", ["\u201c@usairways"]),
    # the author's own words: a dash before a link, a quote with a reply added
    ("@united my flight was cancelled - thanks a lot https://t.co/x1", []),
    ("\u201c@united: We will follow up with our Maintenance team.\u201d THANK YOU! You rock", []),
    ("@SouthwestAir flight 52 cancelled, no customer service", []),
])
def test_passed_on_news_and_posts_are_told_from_the_authors_words(text, words):
    assert shared_words(text) == words


def test_a_shared_headline_is_neutral_other_and_pr_and_a_flag_still_wins():
    from services.classify.pipeline.classifier import Classifier

    headline, threat = Classifier().classify([
        {"text": "@JetBlue's new CEO seeks the right balance to please passengers - Weyburn Review http://t.co/rtQ",
         "author": {}},
        {"text": "@acme never flying you again, this is going to the press - Daily Echo http://t.co/abc", "author": {}}])
    assert (headline["sentiment"]["label"], headline["intent"], headline["department"]) == ("neutral", "other", "pr")
    assert "weyburn review" in headline["cues"]["intent:other"]  # the words that decided, beside the model's
    assert "churn_threat" in threat["flags"] and threat["intent"] == "complaint"


def test_a_stated_promotion_or_suggestion_decides_the_intent_unless_a_threat_is_raised():
    from services.classify.pipeline.classifier import Classifier

    promo, bare_promo, suggestion, threat = Classifier().classify([
        {"text": "@116948 We have coverage everywhere, Lisa! Check it out: https://t.co/Zq0j3hQlDD", "author": {}},
        {"text": "@acme check it out, my bill doubled again", "author": {}},
        {"text": "@united boarding would be much faster if you boarded back to front", "author": {}},
        {"text": "@acme you should add a refund button or I'm reporting you to the FCC", "author": {}}])
    assert promo["intent"] == "spam" and promo["cues"]["intent:spam"] == ["check it out"]
    assert bare_promo["intent"] != "spam"  # no link: the author's own words
    assert suggestion["intent"] == "feedback"
    assert "legal_threat" in threat["flags"] and threat["intent"] == "complaint"
    # a suggestion inside praise stays praise where the head read praise
    assert _stated_intent("praise", {"intent:feedback": ["would be great if"]}, "love it, would be great if") == "praise"


def test_a_concept_cue_raises_its_flag_by_itself_with_the_words_that_said_it(config):
    found = ConceptCues(config).find("@united I will not be flying with you again")
    assert found["flag:churn_threat"] == ["will not be flying"]
    assert "concept:churn_threat" in found  # still a feature of the head too
    assert "flag:churn_threat" not in ConceptCues(config).find("@united flying home tomorrow, can't wait")


@pytest.mark.parametrize("text,flag", [
    ("@acme I'm done with Acme, the third outage this month", "churn_threat"),
    ("@acme no signal again #done", "churn_threat"),
    ("#boycottacme until they pay their staff", "churn_threat"),
    ("shredding my Acme card tonight", "churn_threat"),
    ("I will think again befor booking with you", "churn_threat"),
    ("I just called the local news about this", "escalation_threat"),
    ("I will tell all my followers how you treat people", "escalation_threat"),
    ("I need to make people aware of this", "escalation_threat"),
    ("sharing all of this on facebook and insta", "escalation_threat"),
    ("I will keep tweeting until you answer", "escalation_threat"),
    ("how do I reach someone that matters at corporate", "escalation_threat"),
    ("my driver had a gun in his car", "safety_issue"),
    ("we reported an act of battery on a passenger", "safety_issue"),
    ("someone keeps using my card on your store", "safety_issue"),
    ("I watched bags be abandoned at the gate for an hour", "safety_issue"),
    ("flying with your competitor today, never again", "competitor_mention"),
])
def test_outright_concept_cues_from_the_labelling_guide(config, text, flag):
    assert f"flag:{flag}" in ConceptCues(config).find(text)


@pytest.mark.parametrize("text,flag", [
    ("you tweeted the same canned reply you're telling everyone else", "escalation_threat"),
    ("my Executive Club account shows the wrong tier", "escalation_threat"),
    ("you are jumping the gun cancelling flights", "safety_issue"),
    ("will I get the weapon unlock if I pre-order?", "safety_issue"),
    ("done with The setup at last, thanks for the help", "churn_threat"),
])
def test_outright_concept_cues_leave_near_misses_to_the_head(config, text, flag):
    assert f"flag:{flag}" not in ConceptCues(config).find(text)


@pytest.mark.parametrize("text,language,department,sentiment", [
    ("@AmazonHelp el reembolso lo quiero ya, me cobraron dos veces", "es", "billing", None),
    ("Mein Akku ist nach dem Update kaputt", "de", "product", None),
    ("なんかAmazon支払い方法変わりました？？", "ja", "billing", None),
    ("@AmazonHelp 親切にどうもありがとうございます", "ja", "support", "positive"),
    ("Bonjour, où en est ma commande ?", "fr", "support", "neutral"),  # no cue: support, as before
])
def test_text_the_english_model_cannot_read_gets_department_and_sentiment_from_its_cues(
        config, text, language, department, sentiment):
    result = fallback({"text": text, "author": {}}, language, tuple(config.departments),
                      "test", MultilingualCues(config))
    assert result["department"] == department
    if sentiment:
        assert result["sentiment"]["label"] == sentiment
