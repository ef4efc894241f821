"""The market directory: the addressed company, the other companies a post names, and which
of them compete (same sector, other owner). Texts are written here, in the shape of the
posts the directory was built for; none is an evaluation row."""

from __future__ import annotations

import json

import pytest

from services.classify.pipeline.classifier import Classifier
from services.classify.pipeline.market import (
    companies_only,
    competitors_named,
    load_market,
    not_the_addressed,
    switch_targets,
)


@pytest.fixture(scope="module")
def market():
    return load_market()


def test_the_addressed_company_is_the_hint_then_the_opening_handle(market) -> None:
    assert market.addressed("@JetBlue @Delta where is my bag").name == "JetBlue"
    assert market.addressed("stuck at the gate again @SouthwestAir").name == "Southwest"
    assert market.addressed("@JetBlue where is my bag", hint="Delta").name == "Delta"
    assert market.addressed("@someone_random where is my bag") is None


@pytest.mark.parametrize(("text", "rivals"), [
    ("@united You guys are atrocious, I'll be switching back to delta.", ["delta"]),
    ("@USAirways hidden fees and an inferior flight. JetBlue here I come", ["jetblue"]),
    ("@united wifi broken again. How can Southwest get it right on every plane but United can't?", ["southwest"]),
    ("@sprintcare porting my number to T-Mobile tomorrow", ["t-mobile"]),
    ("@AmazonHelp Walmart delivered the same thing in a day", ["walmart"]),
    ("@Tesco @sainsburys @AldiUK good morning pie makers!", []),  # co-addressed, nothing compared
    ("@JetBlue booked through Expedia, can I pick a seat?", []),  # a partner, not a rival
    ("@USAirways will my miles move over to American Airlines?", []),  # the group that owns it
    ("@JetBlue CEO battles to appease passengers - Waterbury Republican American http://t.co/x", []),
    ("@united flight to the United States delayed 3 hours", []),
])
def test_competitors_named(market, text, rivals) -> None:
    assert competitors_named(market, text) == rivals


def test_a_company_the_directory_lacks_counts_where_the_post_moves_to_it(market) -> None:
    assert competitors_named(market, "moving my mortgage to Crestline Credit Union") == ["crestline credit union"]
    assert switch_targets("Me voy a Corvane, adiós") == ["corvane"]
    assert switch_targets("switched to Airplane mode and back") == []
    assert switch_targets("going to Hawaii next week") == []


def test_a_company_left_behind_is_a_rival_but_not_a_move(market) -> None:
    text = "@acme just called in to switch from AT&amp;T, they wanted $75 to let me go"
    assert switch_targets(text) == []  # leaving AT&T for the addressed brand: no churn
    assert switch_targets(text, left=True) == ["at&t"]
    assert competitors_named(market, text) == ["at&t"]
    assert switch_targets("@acme wish I'd used Corvane instead") == ["corvane"]
    assert switch_targets("@acme @Corvane would have done better. Using them from now on") == ["@corvane"]


def test_a_handle_the_directory_lacks_needs_a_move(market) -> None:
    text = "“@AmericanAir: @Dawn_Davis You're very welcome. Let's do it again!” would love to"
    assert companies_only(market, text, ["@dawn_davis"]) == []
    assert companies_only(market, "@acme I'm switching to @corvane", ["@corvane"]) == ["@corvane"]
    assert companies_only(market, "@united @Delta would never", ["@delta"]) == ["@delta"]


def test_merged_airlines_are_one_company(market) -> None:
    assert not_the_addressed(market, "@USAirways now tweeting from @AmericanAir", ["@americanair"]) == []
    assert not_the_addressed(market, "@united @Delta is better", ["@delta"]) == ["@delta"]


def test_the_classifier_flags_a_rival_named_in_words() -> None:
    (result,) = Classifier().classify([{"text": "@united 3 hours on the tarmac. Flying Delta from now on."}])
    assert "competitor_mention" in result["flags"] and "churn_threat" in result["flags"]
    assert result["cues"]["flag:competitor_mention"] == ["delta"]


def test_a_directory_entry_without_a_name_is_refused(tmp_path) -> None:
    path = tmp_path / "companies.json"
    path.write_text(json.dumps({"sectors": {"airline": [{"names": ["Nameless"]}]}}), encoding="utf-8")
    with pytest.raises(ValueError, match="needs a non-empty 'name'"):
        load_market(str(path))


def test_praise_of_the_rival_a_post_moves_to_keeps_the_churn() -> None:
    text = "@united well I'm flying @JetBlue instead, for free! Their credits actually work. Love them"
    (result,) = Classifier().classify([{"text": text}])
    assert {"churn_threat", "competitor_mention"} <= set(result["flags"])


def test_a_post_the_english_model_does_not_read_still_names_its_rival() -> None:
    (result,) = Classifier().classify([{"text": "ich wechsle zu Vodafone, reicht mir", "language": "de"}])
    assert result["cues"]["fallback:language"] == ["de"]
    assert {"churn_threat", "competitor_mention"} <= set(result["flags"])


@pytest.mark.parametrize(("text", "named"), [
    ("@united JetBlue's service is so much better", ["JetBlue's"]),
    ("@AmazonHelp Marks &amp; Spencer delivered faster", ["Marks & Spencer"]),
    ("@united flying AT&T? no, Delta.", ["AT&T", "Delta"]),
    ("@united American Express points", ["American Express"]),  # the longest name wins
    ("@AmericanAir why is https://www.delta.com cheaper #delta @Delta_fan", []),  # no address, tag or handle
])
def test_names_are_read_as_whole_words(market, text, named) -> None:
    assert [n.words for n in market.named(text)] == named


def test_the_switch_gate_never_hides_a_move(gate_texts) -> None:
    """The substring gate only skips work: every match of the pattern, on the labelled and
    template texts and on each frame's example, holds one of the gate's words."""
    from services.classify.pipeline import market as market_module

    texts = [*gate_texts, "switched from AT&T", "wish I'd used Lyft", "Delta would have done better",
             "we came over from Corvane"]
    for text in texts:
        if market_module._SWITCH_TO.search(text.replace("&amp;", "&")):
            assert any(w in text.lower() for w in market_module._SWITCH_GATE), text
