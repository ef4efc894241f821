"""services.ingest.channels.generic: validation and normalisation of the generic JSON mention."""

from __future__ import annotations

import copy
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import InvalidInput
from services.common.ids import mention_id
from services.ingest.channels.generic import parse_generic_mention
from services.ingest.normalise import MAX_ID_CHARS, MAX_TEXT_CHARS

RECEIVED = datetime(2026, 1, 31, 12, 0, 5, tzinfo=UTC)


def body(**overrides):
    b = {
        "channel": "x",
        "external_id": "1460323737035677698",
        "conversation_id": "1460323737035677000",
        "in_reply_to": "1460323737035677001",
        "author": {"id": "2244994945", "handle": "jane_doe", "name": "Jane Doe", "followers": 1520,
                   "verified": False},
        "text": "@acme you charged me twice this month, refund me or I'm telling everyone",
        "language": "en",
        "created_at": "2026-01-31T13:00:00+01:00",
        "url": "https://x.com/jane_doe/status/1460323737035677698",
    }
    b.update(overrides)
    return b


def errors_of(payload) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_generic_mention(payload, RECEIVED)
    return {e["pointer"]: e["detail"] for e in info.value.errors}


def test_happy_path_canonical_shape():
    payload = body()
    m = parse_generic_mention(payload, RECEIVED)
    assert set(m) == {"id", "channel", "external_id", "conversation_id", "in_reply_to", "author", "text",
                      "language", "created_at", "received_at", "url", "kind", "raw", "hashtags",
                      "mentioned_accounts", "stream_tags"}
    assert m["mentioned_accounts"] == ["acme"] and m["hashtags"] == [] and m["stream_tags"] == []
    assert m["id"] == mention_id("x", "1460323737035677698")
    assert m["channel"] == "x"
    assert m["external_id"] == "1460323737035677698"
    assert m["conversation_id"] == "1460323737035677000"
    assert m["in_reply_to"] == "1460323737035677001"
    assert m["author"] == {"id": "2244994945", "handle": "jane_doe", "name": "Jane Doe", "followers": 1520,
                           "followers_known": True, "verified": False}
    assert m["text"] == payload["text"]
    assert m["language"] == "en"
    assert m["created_at"] == "2026-01-31T12:00:00Z"
    assert m["received_at"] == "2026-01-31T12:00:05Z"
    assert m["url"] == payload["url"]
    assert m["raw"] == payload


def test_minimal_mention_defaults():
    m = parse_generic_mention({"channel": "email", "external_id": "<a@b>", "text": "hello",
                               "created_at": "2026-01-31T12:00:00Z", "author": {"id": "jane@example.com"}}, RECEIVED)
    assert m["conversation_id"] is None and m["in_reply_to"] is None
    assert m["url"] is None and m["language"] is None
    assert m["author"] == {"id": "jane@example.com", "handle": None, "name": None, "followers": 0,
                           "followers_known": False, "verified": False}  # not sent: unknown, not zero


def test_null_followers_and_verified_mean_defaults():
    m = parse_generic_mention(body(author={"id": "1", "followers": None, "verified": None}), RECEIVED)
    assert m["author"]["followers"] == 0 and m["author"]["verified"] is False
    assert m["author"]["followers_known"] is False


def test_tags_from_the_body_or_else_from_the_text():
    m = parse_generic_mention(body(text="@acme @AcmeHelp #fail #Fail #2024 mail jo@acme.com #WiFi",
                                   hashtags=None), RECEIVED)
    assert m["hashtags"] == ["fail", "WiFi"]  # once each, no bare numbers
    assert m["mentioned_accounts"] == ["acme", "AcmeHelp"]  # not the email address
    given = parse_generic_mention(body(hashtags=["Outage"], mentioned_accounts=["@acme"], stream_tags=["brand"]),
                                  RECEIVED)
    assert given["hashtags"] == ["Outage"] and given["mentioned_accounts"] == ["acme"]
    assert given["stream_tags"] == ["brand"]
    with pytest.raises(InvalidInput) as info:
        parse_generic_mention(body(hashtags="fail"), RECEIVED)
    assert info.value.errors == [{"pointer": "/hashtags", "detail": "must be a list of strings of 1 to 140 characters"}]


def test_numeric_ids_are_coerced_to_strings():
    m = parse_generic_mention(body(external_id=1460323737035677698, conversation_id=42, in_reply_to=7,
                                   author={"id": 2244994945}), RECEIVED)
    assert m["external_id"] == "1460323737035677698"
    assert m["conversation_id"] == "42" and m["in_reply_to"] == "7"
    assert m["author"]["id"] == "2244994945"
    assert m["id"] == mention_id("x", "1460323737035677698")


def test_same_post_with_string_or_number_id_gets_the_same_mention_id():
    a = parse_generic_mention(body(external_id=99), RECEIVED)
    b = parse_generic_mention(body(external_id="99"), RECEIVED)
    assert a["id"] == b["id"]


def test_text_is_nfc_normalised_and_stripped():
    decomposed = "  Cafe\u0301 re\u0301sume\u0301 was awful \n"
    m = parse_generic_mention(body(text=decomposed, author={"id": "1", "name": "Jose\u0301"}), RECEIVED)
    assert m["text"] == "Caf\u00e9 r\u00e9sum\u00e9 was awful"
    assert unicodedata.is_normalized("NFC", m["text"])
    assert m["author"]["name"] == "Jos\u00e9"


def test_text_length_is_counted_after_normalisation():
    m = parse_generic_mention(body(text="e\u0301" * MAX_TEXT_CHARS), RECEIVED)
    assert len(m["text"]) == MAX_TEXT_CHARS


def test_raw_is_kept_as_is():
    payload = body(text="  spaced  ", extra={"platform": "specific"})
    snapshot = copy.deepcopy(payload)
    m = parse_generic_mention(payload, RECEIVED)
    assert m["raw"] == snapshot
    assert m["raw"]["extra"] == {"platform": "specific"}


@pytest.mark.parametrize("payload", [[], "mention", 42, None, [{"channel": "x"}]])
def test_non_object_body(payload):
    with pytest.raises(InvalidInput) as info:
        parse_generic_mention(payload, RECEIVED)
    assert info.value.errors == [{"pointer": "", "detail": "expected an object"}]


def test_empty_object_reports_every_required_field():
    errs = errors_of({})
    assert set(errs) == {"/channel", "/external_id", "/text", "/created_at", "/author"}
    assert errs["/channel"] == "is required"


def test_every_field_error_is_collected_with_json_pointers():
    errs = errors_of({
        "channel": "myspace",
        "external_id": True,
        "text": "   ",
        "conversation_id": {"id": 1},
        "url": "https://e.x/" + "a" * 2048,
        "language": "x" * 36,
        "created_at": "2026-01-31T12:00:00",
        "author": {"id": "", "handle": 5.5, "followers": -1, "verified": "yes"},
    })
    assert set(errs) == {"/channel", "/external_id", "/text", "/conversation_id", "/url", "/language",
                         "/created_at", "/author/id", "/author/handle", "/author/followers", "/author/verified"}
    assert errs["/channel"].startswith("unknown channel")
    assert "x, facebook" in errs["/channel"]
    assert errs["/external_id"] == "must be a string"
    assert errs["/text"] == "must not be empty"
    assert errs["/author/id"] == "must not be empty"
    assert errs["/author/followers"] == "must be a non-negative integer"
    assert errs["/author/verified"] == "must be true or false"
    assert "RFC 3339" in errs["/created_at"]


def test_invalid_input_title():
    with pytest.raises(InvalidInput) as info:
        parse_generic_mention(body(channel="fax"), RECEIVED)
    assert info.value.title == "The mention is not valid"
    assert info.value.retriable is False


@pytest.mark.parametrize("channel", ["fax", "X", "twitter", ""])
def test_unknown_channel(channel):
    errs = errors_of(body(channel=channel))
    assert list(errs) == ["/channel"]


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "email", "review", "blog", "forum",
                                     "call_center", "chat", "other"])
def test_known_channels(channel):
    assert parse_generic_mention(body(channel=channel), RECEIVED)["channel"] == channel


def test_text_too_long():
    errs = errors_of(body(text="a" * (MAX_TEXT_CHARS + 1)))
    assert errs == {"/text": f"must be at most {MAX_TEXT_CHARS} characters"}
    assert parse_generic_mention(body(text="a" * MAX_TEXT_CHARS), RECEIVED)["text"] == "a" * MAX_TEXT_CHARS


def test_external_id_too_long():
    assert list(errors_of(body(external_id="9" * (MAX_ID_CHARS + 1)))) == ["/external_id"]


@pytest.mark.parametrize("followers", [True, False, 1.5, "100", -5, [1]])
def test_bad_followers_rejected(followers):
    errs = errors_of(body(author={"id": "1", "followers": followers}))
    assert errs == {"/author/followers": "must be a non-negative integer"}


@pytest.mark.parametrize("author", [None, "jane", ["jane"], 17])
def test_author_must_be_an_object(author):
    assert list(errors_of(body(author=author))) == ["/author"]


def test_author_id_required():
    assert errors_of(body(author={"handle": "jane"})) == {"/author/id": "is required"}


@pytest.mark.parametrize("created_at", ["2026-01-31", "31/01/2026 12:00", 1738324800, "", "2026-01-31T12:00:00"])
def test_bad_created_at(created_at):
    assert list(errors_of(body(created_at=created_at))) == ["/created_at"]


def test_created_at_keeps_customer_time_not_received_time():
    m = parse_generic_mention(body(created_at="2025-12-31T23:59:59-08:00"),
                              RECEIVED + timedelta(days=30))
    assert m["created_at"] == "2026-01-01T07:59:59Z"
    assert m["received_at"] == "2026-03-02T12:00:05Z"


def test_bool_external_id_is_not_coerced():
    assert errors_of(body(external_id=False)) == {"/external_id": "must be a string"}
