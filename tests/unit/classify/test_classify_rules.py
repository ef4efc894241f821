"""services.classify.pipeline.rules and .config: entity and cue components, one rule at a time."""

from __future__ import annotations

import json

import pytest

from services.classify.pipeline.classifier import build_pipeline
from services.classify.pipeline.config import DEFAULT_CONFIG, load_config
from services.classify.pipeline.rules import flags_of, negated


@pytest.fixture(scope="module")
def nlp():
    return build_pipeline(with_textcat=False)


def cues(nlp, text: str) -> dict[str, list[str]]:
    return nlp(text)._.cues


def entities(nlp, text: str) -> set[tuple[str, str]]:
    return {(e["label"], e["value"]) for e in nlp(text)._.entities}


# --- heatdesk_entities -------------------------------------------------------------------------

def test_products_and_competitors_from_configuration(nlp):
    found = entities(nlp, "my Acme Buds died, the Hooli Buds never did. @globex take note")
    assert ("product", "Acme Buds") in found
    assert ("competitor", "Hooli Buds") in found  # the longest name wins over "Hooli"
    assert ("competitor", "@globex") in found


def test_money_amounts(nlp):
    found = entities(nlp, "charged $45.99 then £12 and 30 dollars")
    assert {("money", "$45.99"), ("money", "£12"), ("money", "30 dollars")} <= found


def test_order_numbers(nlp):
    assert ("order_id", "AB12345") in entities(nlp, "Where is order #AB12345?")
    assert ("order_id", "ACM-55120") in entities(nlp, "invoice for booking ACM-55120 please")
    assert ("order_id", "558213") in entities(nlp, "any update on my ticket 558213?")


def test_no_entities_in_plain_text(nlp):
    assert entities(nlp, "thanks, love the new app") == set()


# --- heatdesk_cues: one test per flag, with a near miss for each ---------------------------------

@pytest.mark.parametrize("flag,text,word", [
    ("escalation_threat", "refund me or I'm telling everyone", "telling everyone"),
    ("escalation_threat", "I'm going to the press with this", "going to the press with"),
    ("escalation_threat", "my 60k followers will hear about it", "my 60k followers"),
    ("escalation_threat", "I've sent the video of your staff to three newspapers", "sent the video of your staff to three newspapers"),
    ("escalation_threat", "if nobody calls back this thread goes on Reddit", "goes on reddit"),
    ("churn_threat", "cancel my contract today", "cancel my contract"),
    ("churn_threat", "that's the last time I book with you", "last time i book"),
    ("churn_threat", "switching to Globex next week", "switching to globex"),
    ("churn_threat", "moving to another bank after this", "moving to another bank"),
    ("legal_threat", "my solicitor will be in touch", "solicitor"),
    ("legal_threat", "I'm reporting you to the ombudsman", "ombudsman"),
    ("safety_issue", "the charger caught fire on my desk", "caught fire"),
    ("safety_issue", "we all got sick after the chicken", "sick after"),
    ("safety_issue", "a data breach exposed my address", "data breach"),
    ("safety_issue", "the cable frayed and gave my son a nasty shock", "gave my son a nasty shock"),
    ("safety_issue", "the brakes failed and my friend broke her wrist", "broke her"),
    ("competitor_mention", "Initech does it cheaper", "Initech"),
])
def test_each_flag_rule(nlp, flag, text, word):
    found = cues(nlp, text)
    assert word in found[f"flag:{flag}"]
    assert flag in flags_of(found)


@pytest.mark.parametrize("text", [
    "can I switch to the annual plan?",            # changing plan, not leaving
    "how do I cancel an order I placed by mistake",  # an order, not the account
    "how long does a transfer to another bank take?",
    "my lawyer friend swears by @acme",             # 'unless' veto in the configuration
    "I'm not going to sue you, just fix it",        # negated threat
    "I tweeted you yesterday about my order",       # already public, no threat
    "the new kettle is fire 🔥",                    # slang
    "the pizza arrived burnt and cold",             # a bad pizza, not an injury
    "Just leaving the Acme store with my mum",
])
def test_near_misses_raise_no_flag(nlp, text):
    assert flags_of(cues(nlp, text)) == []


def test_negation_window_stops_at_clause_boundary(nlp):
    doc = nlp.make_doc("I never said that, my lawyer will call")
    assert not negated(doc, 6)  # "lawyer": the comma ends the clause of "never"
    assert negated(nlp.make_doc("I will not sue"), 3)


@pytest.mark.parametrize("text,marker", [
    ("Oh great, another outage 🙄", "🙄"), ("love how the app logs me out /s", "/s"),
    ("thanks for nothing @acme", "thanks for nothing"), ("yeah right, 'your call is important'", "yeah right"),
])
def test_sarcasm_markers(nlp, text, marker):
    assert marker in cues(nlp, text)["sarcasm"]


def test_spam_and_department_cues(nlp):
    assert "click here" in cues(nlp, "FREE followers click here")["spam"]
    found = cues(nlp, "charged twice and no refund, the app crashed")
    assert {"charged twice", "refund"} <= set(found["department:billing"])
    assert "app" in found["department:product"]


def test_concept_and_intent_cues_read_the_whole_post_when_a_phrase_cue_matched(nlp):
    # A phrase cue ("customer service", a department word) used to replace the post the concept
    # patterns read with its own words, so every concept behind it went unseen.
    found = cues(nlp, "@acme customer service was useless, 1 star review going up tonight")
    assert "customer service" in found["department:support"]
    assert found["concept:escalation_threat"] == ["1 star"]
    suggestion = cues(nlp, "@SouthwestAir Suggestions: tell customers the wait times when they are on hold")
    assert suggestion["intent:feedback"] == ["suggestions"] and "on hold" in suggestion["department:support"]


def test_intent_cues_state_spam_and_feedback(nlp):
    assert cues(nlp, "Send your costume pics using #Contest to win https://t.co/x")["intent:spam"] == ["#contest"]
    assert cues(nlp, "boarding would be much faster if you boarded back to front")["intent:feedback"] == [
        "would be much faster if"]
    assert "intent:feedback" not in cues(nlp, "I have no option to change my flight")


def test_an_unknown_intent_cue_kind_is_refused_by_name(tmp_path):
    raw = json.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["intent_cues"]["praise"] = ["love it"]
    path = tmp_path / "praise.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=r"intent_cues knows \['feedback', 'spam'\], not \['praise'\]"):
        load_config(path)


def test_longer_cue_hides_the_shorter_one_it_contains(nlp):
    assert cues(nlp, "see you in court")["flag:legal_threat"] == ["see you in court"]


def test_configuration_adds_a_department_and_a_competitor(tmp_path):
    raw = json.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["departments"]["legal"] = ["gdpr", "subject access request"]
    raw["competitors"].append("Wonka")
    path = tmp_path / "brand.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert tuple(load_config(path).departments) == ("billing", "product", "pr", "support", "legal")
    nlp = build_pipeline(with_textcat=False, config=path)
    found = nlp("my subject access request to Wonka")._.cues
    assert found["department:legal"] == ["subject access request"]
    assert found["flag:competitor_mention"] == ["Wonka"]


@pytest.mark.parametrize("text", [
    "charged $45 twice", "order 12345 never came", "Order#12 lost", "ticket no. 4411", "ref123 and 5 more",
    "flight UA-123 delayed", "ab_123 9", "AB-1234", "x1 REF 1", "ten dollars and 5p", "5 P", "p5", "£12 please",
    "€5 fee", "2 quid", "bucks 4", "pounds4", "1 caseload", "123", "no digits here order", "",
    "café order 12", "ſ order 12", "CASE 1", "caſe 1", "ticKet 7", "Kelvin \u212a 100", "UA\u2011123 9",
])
def test_entity_gate_matches_its_regex(text):
    """`_may_have_entity` is the regex gate (digit and `_MAYBE_ENTITY`) with an ASCII fast path."""
    from services.classify.pipeline.rules import _DIGIT, _MAYBE_ENTITY, _may_have_entity
    assert _may_have_entity(text) == bool(_DIGIT.search(text) and _MAYBE_ENTITY.search(text))


def test_entity_gate_matches_its_regex_on_the_labelled_mentions():
    from pathlib import Path

    from services.classify.pipeline.rules import _DIGIT, _MAYBE_ENTITY, _may_have_entity
    path = Path(__file__).resolve().parents[2] / "data" / "labelled_mentions.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [_may_have_entity(t) for t in texts] == [bool(_DIGIT.search(t) and _MAYBE_ENTITY.search(t)) for t in texts]
