"""The reply playbook: every shipped template, for a spread of cases, follows the playbook rules."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.route.playbook import Playbook, check_reply

BOOK = Playbook.load()
INTENTS = ("complaint", "question", "praise", "feedback", "spam", "other")
DEPARTMENTS = ("billing", "product", "pr", "support", "legal", "sales")
CHANNELS = ("x", "facebook", "instagram", "email", "forum")
PEOPLE = [{"author_name": "Jo Smith", "author_handle": "jo"},
          {"author_name": None, "author_handle": "@a_very_long_handle_name_indeed"},
          {"author_name": "Maximiliana-Konstantina Papadopoulou-Worthington", "author_handle": None}]
ORDERS = [[], [{"label": "order_id", "value": "AB-1234567"}], [{"label": "money", "value": "$45.99"}]]


def case(intent: str, department: str, channel: str, person: dict, entities: list, status: str = "open") -> dict:
    return {"channel": channel, "department": department, "status": status, "public": channel not in ("email",),
            "mentions": [{"classification": {"intent": intent, "entities": entities}}], **person}


def expected_name(person: dict) -> str:
    return (person["author_name"] or "").split()[0] if person["author_name"] else "@" + person["author_handle"].lstrip("@")


@pytest.mark.parametrize("intent,department,channel", list(itertools.product(INTENTS, DEPARTMENTS, CHANNELS)))
def test_every_first_reply_follows_the_playbook(intent, department, channel):
    for person, entities in itertools.product(PEOPLE, ORDERS):
        reply = BOOK.suggest(case(intent, department, channel, person, entities))
        problems = check_reply(reply["text"], public=reply["public"], limit=reply["limit"],
                               complaint=intent == "complaint", brand=BOOK.brand, name=expected_name(person))
        assert problems == [], (reply["text"], problems)
        assert reply["kind"] == "first_reply"
        if intent in ("complaint", "question", "other"):
            assert "DM" in reply["text"] or "email" in reply["text"]  # the conversation moves to a private channel
        assert "$45.99" not in reply["text"]  # amounts are never repeated in public


@pytest.mark.parametrize("channel", CHANNELS)
def test_closure_after_resolution(channel):
    reply = BOOK.suggest(case("complaint", "billing", channel, PEOPLE[0], [], status="resolved"))
    assert reply["kind"] == "closure" and "Jo" in reply["text"] and len(reply["text"]) <= reply["limit"]
    assert check_reply(reply["text"], public=True, limit=reply["limit"], complaint=False, brand="Acme", name="Jo") == []


def test_order_reference_is_filled_in():
    reply = BOOK.suggest(case("complaint", "support", "x", PEOPLE[0], ORDERS[1]))
    assert "order AB-1234567" in reply["text"]


@pytest.mark.parametrize("text,problem", [
    ("Hi Jo, this is Acme. We will refund you $20 today.", "names a price, refund or promise in public"),
    ("Hi Jo, this is Acme. Sorry, it was our fault.", "admits fault in writing"),
    ("Hi there, this is Acme. Sorry!", "does not address the customer by name or handle"),
    ("Hi Jo, sorry about that!", "does not say which brand is answering"),
    ("Hi Jo, this is Acme. Please DM us.", "a complaint gets an apology"),
    ("Hi Jo, this is Acme. Sorry! " + "x" * 300, "longer than the channel's 280 characters"),
])
def test_check_reply_catches_each_rule(text, problem):
    assert problem in check_reply(text, public=True, limit=280, complaint=True, brand="Acme", name="Jo")


def test_a_playbook_whose_template_breaks_the_rules_is_refused(tmp_path: Path):
    bad = tmp_path / "playbook.yaml"
    bad.write_text("""brand: Acme
signature: "^A"
private_channel: {default: "DM us"}
limits: {x: 280, default: 1000}
templates:
  complaint: {default: "Hi {name}, this is {brand}. Sorry! We will refund you in full. {signature}"}
  other: {default: "Hi {name}, this is {brand}. {signature}"}
closure: {default: "Thanks {name} from {brand}"}
""")
    with pytest.raises(ConfigError, match="complaint/default breaks the rules"):
        Playbook.load(bad)
