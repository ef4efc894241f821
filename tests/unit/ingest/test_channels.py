"""Channel parsers on real-shaped payloads (after the platforms' documentation examples), field by field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.errors import InvalidInput
from services.common.ids import mention_id
from services.ingest.channels.common import BrandAccounts
from services.ingest.channels.email import parse_inbound_form, parse_postmark, parse_rfc822
from services.ingest.channels.email_text import strip_reply
from services.ingest.channels.meta import parse_meta
from services.ingest.channels.responses import parse_response
from services.ingest.channels.x import parse_x
from tests.support import validate_payload

DATA = Path(__file__).resolve().parents[2] / "data" / "channels"
RECEIVED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BRANDS = BrandAccounts(["x:AcmeHelp", "x:783214", "facebook:106123456789012", "email:acme.com"])


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_x_filtered_stream_tweet():
    parsed = parse_x(load("x_filtered_stream.json"), RECEIVED, BRANDS)
    assert not parsed.responses and not parsed.ignored
    (m,) = parsed.mentions
    validate_payload("Mention", m)
    assert m["id"] == mention_id("x", "1346889436626259968")
    assert m["channel"] == "x" and m["external_id"] == "1346889436626259968" and m["kind"] == "post"
    assert m["author"] == {"id": "2244994945", "handle": "jocustomer", "name": "Jo Customer", "followers": 51395,
                           "followers_known": True, "verified": True}
    assert m["text"].startswith("@AcmeHelp you charged me twice")
    assert m["created_at"] == "2021-01-06T18:40:40Z" and m["received_at"] == "2026-11-24T12:00:00Z"
    assert m["conversation_id"] == "1346889436626259968" and m["in_reply_to"] is None
    assert m["language"] == "en"
    assert m["metrics"] == {"reposts": 12, "likes": 40, "replies": 3, "quotes": 1}
    assert m["url"] == "https://x.com/jocustomer/status/1346889436626259968"
    assert m["raw"]["data"]["id"] == "1346889436626259968"
    assert m["stream_tags"] == ["acme brand mentions"]  # the filtered-stream rule that caught it
    assert m["mentioned_accounts"] == ["AcmeHelp"]  # no entities in this payload: read from the text


def test_x_hashtags_and_mentions_come_from_the_payloads_entities():
    v2 = {"data": {"id": "1800000000000000003", "author_id": "77", "text": "@AcmeHelp @Globex wifi down #Outage #fail",
                   "entities": {"hashtags": [{"start": 28, "end": 35, "tag": "Outage"}, {"tag": "fail"}],
                                "mentions": [{"username": "AcmeHelp", "id": "783214"}, {"username": "Globex"}]}},
          "includes": {"users": [{"id": "77", "username": "kim"}]},  # no public_metrics: count unknown
          "matching_rules": [{"id": "1", "tag": "outage"}, {"id": "2"}]}
    (m,) = parse_x(v2, RECEIVED, BRANDS).mentions
    validate_payload("Mention", m)
    assert m["hashtags"] == ["Outage", "fail"] and m["mentioned_accounts"] == ["AcmeHelp", "Globex"]
    assert m["stream_tags"] == ["outage", "2"]  # a rule without a tag is named by its id
    assert m["author"]["followers"] == 0 and m["author"]["followers_known"] is False
    v1 = {"for_user_id": "783214", "tweet_create_events": [{
        "id_str": "1800000000000000004", "created_at": "Sat Jun 01 10:00:00 +0000 2024",
        "text": "@AcmeHelp #refund please", "user": {"id_str": "55", "screen_name": "kim", "followers_count": 0},
        "entities": {"hashtags": [{"text": "refund"}], "user_mentions": [{"screen_name": "AcmeHelp"}]}}]}
    (m,) = parse_x(v1, RECEIVED, BRANDS).mentions
    assert m["hashtags"] == ["refund"] and m["mentioned_accounts"] == ["AcmeHelp"]
    assert m["author"]["followers"] == 0 and m["author"]["followers_known"] is True  # zero, and said so


def test_x_links_are_resolved_from_the_payloads_entities_and_masked_on_the_way_out():
    booking = ("https://book.airline.example/manage-booking?pnr=QX7K2L&lastName=Okonkwo-Smith&lang=en"
               "&utm_source=app")
    v2 = {"data": {"id": "1800000000000000001", "author_id": "2244994945", "created_at": "2024-06-01T10:00:00.000Z",
                   "text": "@AcmeHelp my booking https://t.co/AbC123xYz is wrong, and see https://t.co/Q9 too",
                   "entities": {"urls": [{"start": 20, "end": 43, "url": "https://t.co/AbC123xYz",
                                          "expanded_url": booking, "display_url": "book.airline.example/manage…"},
                                         {"url": "https://t.co/Q9", "expanded_url": "https://x.com/i/web/status/9",
                                          "unwound_url": "https://status.acme.example/incidents/42"}]}},
          "includes": {"users": [{"id": "2244994945", "username": "jocustomer", "name": "Jo"}]}}
    (m,) = parse_x(v2, RECEIVED, BRANDS).mentions
    assert m["text"] == (f"@AcmeHelp my booking {booking} is wrong, and see "
                         "https://status.acme.example/incidents/42 too")
    from services.common import pii

    assert pii.mask(m["text"]) == ("@AcmeHelp my booking https://book.airline.example/manage-booking?[masked] is "
                                   "wrong, and see https://status.acme.example/incidents/42 too")
    v1 = {"for_user_id": "783214", "tweet_create_events": [{
        "id_str": "1800000000000000002", "created_at": "Sat Jun 01 10:00:00 +0000 2024", "truncated": True,
        "text": "@AcmeHelp look https://t.co/short…", "user": {"id_str": "55", "screen_name": "kim"},
        "extended_tweet": {"full_text": "@AcmeHelp look https://t.co/Full1 at this",
                           "entities": {"urls": [{"url": "https://t.co/Full1",
                                                  "expanded_url": "https://acme.example/p/1"}]}}}]}
    (m,) = parse_x(v1, RECEIVED, BRANDS).mentions
    assert m["text"] == "@AcmeHelp look https://acme.example/p/1 at this"


def test_x_brand_reply_is_a_response_and_retweets_are_skipped():
    parsed = parse_x(load("x_brand_reply.json"), RECEIVED, BRANDS)
    assert parsed.mentions == [] and parsed.ignored == ["retweet"]
    (r,) = parsed.responses
    validate_payload("Response", r)
    assert r["kind"] == "reply" and r["in_reply_to"] == "1346889436626259968"
    assert r["customer_id"] == "2244994945" and r["public"] is True and r["automated"] is False
    assert r["author"]["handle"] == "AcmeHelp" and r["created_at"] == "2021-01-06T18:52:10Z"


def test_x_account_activity_tweets_and_direct_messages():
    parsed = parse_x(load("x_account_activity.json"), RECEIVED, BRANDS)
    tweet, dm = parsed.mentions
    assert tweet["external_id"] == "1050118621198921728"
    assert tweet["author"]["handle"] == "sambuyer" and tweet["author"]["followers"] == 431
    assert tweet["created_at"] == "2018-10-10T20:19:24Z"
    assert dm["kind"] == "direct_message" and dm["external_id"] == "dm-954491830116155396"
    assert dm["conversation_id"] == "dm:6253282" and dm["created_at"] == "2018-01-19T23:12:40.557000Z"
    (reply,) = parsed.responses
    assert reply["public"] is False and reply["customer_id"] == "6253282"
    for item in parsed.mentions:
        validate_payload("Mention", item)


def test_meta_page_feed_comment_reply_reaction_and_messages():
    parsed = parse_meta(load("meta_page_feed.json"), RECEIVED, BRANDS)
    comment, message = parsed.mentions
    assert comment["channel"] == "facebook" and comment["kind"] == "comment"
    assert comment["external_id"] == "123_4567890123" and comment["conversation_id"] == "106123456789012_123"
    assert comment["in_reply_to"] is None  # a top-level comment on the page's post
    assert comment["author"]["name"] == "Alex Rivera" and comment["created_at"] == "2021-03-29T18:41:40Z"
    assert comment["author"]["followers_known"] is False  # the Graph API sends no follower count
    assert message["kind"] == "direct_message" and message["conversation_id"] == "dm:6543210987654321"
    page_reply, echo = parsed.responses
    assert page_reply["in_reply_to"] == "123_4567890123" and page_reply["public"] is True
    assert echo["public"] is False and echo["automated"] is True  # sent by an app, not an agent
    assert parsed.ignored == ["feed_reaction_add"]


def test_instagram_comment():
    (m,) = parse_meta(load("meta_instagram.json"), RECEIVED, BRANDS).mentions
    assert m["channel"] == "instagram" and m["author"]["handle"] == "test_user_ig"
    assert m["conversation_id"] == "123123123" and m["created_at"] == "2019-09-23T18:14:46Z"


def test_instagram_mentions_are_references_to_fetch_not_mentions():
    payload = {"object": "instagram", "entry": [{"id": "1784", "time": 1764494100, "changes": [
        {"field": "mentions", "value": {"media_id": "178", "comment_id": "179"}},
        {"field": "mentions", "value": {"media_id": "178"}}]}]}
    parsed = parse_meta(payload, RECEIVED, BRANDS)
    assert parsed.mentions == [] and parsed.ignored == []
    comment, caption = parsed.references
    assert (comment.ig_user_id, comment.media_id, comment.external_id) == ("1784", "178", "179")
    assert caption.comment_id is None and caption.external_id == "178"
    with pytest.raises(InvalidInput):
        parse_meta({"object": "instagram", "entry": [{"id": "1784", "changes": [
            {"field": "mentions", "value": {"comment_id": "179"}}]}]}, RECEIVED, BRANDS)


def test_raw_email_threads_and_strips_quote_and_signature():
    (m,) = parse_rfc822((DATA / "email_raw.eml").read_bytes(), RECEIVED, BRANDS).mentions
    validate_payload("Mention", m)
    assert m["external_id"] == "CAF3x-reply-2@mail.example.org"
    assert m["conversation_id"] == "acme-invoice-42@acme.com"  # the thread root
    assert m["in_reply_to"] == "acme-invoice-42@acme.com"
    assert m["author"]["id"] == "dana@example.org" and m["author"]["name"] == "Dana Smith"
    assert m["subject"] == "Re: Your invoice INV-2024-0042" and m["created_at"] == "2024-03-05T08:15:00Z"
    assert "lawyer" in m["text"] and "removed the late fee" not in m["text"] and "555 0100" not in m["text"]
    assert "removed the late fee" in m["raw"]["body"]  # the original is kept


def test_mailgun_form_uses_stripped_text_and_headers():
    fields = {"sender": "lee@example.net", "from": "Lee Park <lee@example.net>", "recipient": "care@acme.com",
              "subject": "Package damaged", "body-plain": "The box arrived crushed.\n\n> old quote",
              "stripped-text": "The box arrived crushed.", "Message-Id": "<20240301.1@example.net>",
              "Date": "Fri, 01 Mar 2024 10:00:00 +0000", "timestamp": "1709287200", "token": "t", "signature": "s"}
    (m,) = parse_inbound_form(fields, RECEIVED, BRANDS).mentions
    assert m["text"] == "The box arrived crushed." and m["external_id"] == "20240301.1@example.net"
    assert m["conversation_id"] == "20240301.1@example.net" and m["created_at"] == "2024-03-01T10:00:00Z"


def test_sendgrid_form_reads_the_header_block():
    headers = ("Message-ID: <sg-77@example.com>\nIn-Reply-To: <case-9@acme.com>\nReferences: <case-9@acme.com>\n"
               "Date: Sat, 02 Mar 2024 11:30:00 +0000\n")
    fields = {"from": "Ann <ann@example.com>", "to": "care@acme.com", "subject": "Re: case 9",
              "text": "Still waiting for my refund.\n\nOn Fri, Mar 1, 2024 at 9:00 AM Acme <care@acme.com> wrote:\n> x",
              "headers": headers}
    (m,) = parse_inbound_form(fields, RECEIVED, BRANDS).mentions
    assert m["text"] == "Still waiting for my refund." and m["in_reply_to"] == "case-9@acme.com"


def test_postmark_json_and_brand_email_is_a_response():
    payload = {"From": "care@acme.com", "FromFull": {"Email": "care@acme.com", "Name": "Acme Care"},
               "Subject": "Re: refund", "MessageID": "pm-1", "Date": "Sat, 02 Mar 2024 12:00:00 +0000",
               "TextBody": "We refunded you.", "Headers": [{"Name": "In-Reply-To", "Value": "<sg-77@example.com>"}]}
    parsed = parse_postmark(payload, RECEIVED, BRANDS)
    (r,) = parsed.responses
    assert r["in_reply_to"] == "sg-77@example.com" and r["public"] is False and r["channel"] == "email"


@pytest.mark.parametrize("body,expected", [
    ("Thanks\n\nOn Tue, 5 Mar 2024, Acme <a@acme.com> wrote:\n> old", "Thanks"),
    ("Thanks\n\nOn Tue, 5 Mar 2024 at 10:00, Acme Support\n<a@acme.com> wrote:\n> old", "Thanks"),
    ("Fix it\n-----Original Message-----\nFrom: Acme\nSent: Monday", "Fix it"),
    ("Fix it\n\nFrom: Acme Care <care@acme.com>\nSent: Monday, March 4, 2024\nTo: me", "Fix it"),
    ("Broken again\n\nSent from my iPhone", "Broken again"),
    ("Broken again\n-- \nDana | Example Org", "Broken again"),
    ("> only a quote", "> only a quote"),  # nothing new: keep everything rather than nothing
])
def test_strip_reply(body, expected):
    assert strip_reply(body) == expected


def test_responses_api():
    r = parse_response({"channel": "x", "external_id": "agent-reply-1", "kind": "resolution",
                        "case_id": "01a20bd1-502b-73e7-bf48-f1d3bcf30006", "author": {"id": "agent-7", "name": "Kim"},
                        "created_at": "2026-11-24T10:00:00Z"}, RECEIVED)
    validate_payload("Response", r)
    assert r["kind"] == "resolution" and r["source"] == "api" and r["public"] is True


def test_responses_api_needs_a_target_and_valid_fields():
    with pytest.raises(InvalidInput) as info:
        parse_response({"channel": "x", "external_id": "1", "kind": "maybe", "case_id": "nope",
                        "author": {}, "created_at": "later"}, RECEIVED)
    pointers = {e["pointer"] for e in info.value.errors}
    assert {"/kind", "/case_id", "/author/id", "/created_at"} <= pointers


@pytest.mark.parametrize("parser,payload", [
    (parse_x, {"nothing": 1}), (parse_x, {"data": {"text": "no id"}}), (parse_x, [1]),
    (parse_meta, {"object": "user"}), (parse_meta, {"object": "page", "entry": "x"}),
    (parse_meta, {"object": "page", "entry": [{"changes": [{"field": "feed", "value": {"item": "comment"}}]}]}),
    (parse_postmark, {"Subject": "no sender"}),
])
def test_malformed_payloads_are_invalid_input(parser, payload):
    with pytest.raises(InvalidInput):
        parser(payload, RECEIVED, BRANDS)
