"""Property-based tests: hostile input at every parser and every ingest endpoint.

Parsers may only raise InvalidInput (a 422 with field errors), never crash. Over HTTP,
every malformed body, wrong encoding, oversize body or missing field gets a 4xx
problem+json answer and nothing reaches the topic.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common import settings as loader
from services.common.embedded import EmbeddedBroker, free_port
from services.common.errors import InvalidInput
from services.common.topics import MENTIONS_RAW, RESPONSES
from services.ingest.app import IngestService
from services.ingest.channels.common import BrandAccounts
from services.ingest.channels.email import parse_inbound_form, parse_postmark, parse_rfc822
from services.ingest.channels.generic import parse_generic_mention
from services.ingest.channels.meta import parse_meta
from services.ingest.channels.responses import parse_response
from services.ingest.channels.x import parse_x
from services.ingest.replay_sources import detect_layout
from tests.support import read_topic

RECEIVED = datetime(2026, 11, 24, tzinfo=UTC)
BRANDS = BrandAccounts(["x:AcmeHelp"])

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
field_names = st.sampled_from(["channel", "external_id", "text", "author", "created_at", "id", "followers", "data",
                               "includes", "entry", "object", "changes", "messaging", "From", "kind", "case_id",
                               "in_reply_to", "for_user_id", "tweet_create_events", "direct_message_events"])
# Objects shaped like the real payloads, with arbitrary values where the fields should be.
shaped = st.recursive(st.dictionaries(field_names, json_values, max_size=6),
                      lambda inner: st.dictionaries(field_names, inner | st.lists(inner, max_size=3), max_size=6),
                      max_leaves=25)
anything = json_values | shaped


def only_invalid_input(parse, payload) -> None:  # noqa: ANN001 - any parser
    try:
        parse(payload)
    except InvalidInput as exc:
        assert exc.errors is not None
    # Anything else propagates and fails the test.


@settings(max_examples=300, deadline=None)
@given(anything)
def test_generic_and_response_parsers_never_crash(payload):
    only_invalid_input(lambda p: parse_generic_mention(p, RECEIVED), payload)
    only_invalid_input(lambda p: parse_response(p, RECEIVED), payload)


@settings(max_examples=300, deadline=None)
@given(anything | st.fixed_dictionaries({"object": st.sampled_from(["page", "instagram"]), "entry": json_values}))
def test_platform_parsers_never_crash(payload):
    only_invalid_input(lambda p: parse_x(p, RECEIVED, BRANDS), payload)
    only_invalid_input(lambda p: parse_meta(p, RECEIVED, BRANDS), payload)
    only_invalid_input(lambda p: parse_postmark(p, RECEIVED, BRANDS), payload)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_raw_email_parser_never_crashes(data):
    only_invalid_input(lambda p: parse_rfc822(p, RECEIVED, BRANDS), data)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["from", "sender", "subject", "text", "body-plain", "headers", "Message-Id",
                                        "message-headers", "Date", "References", "In-Reply-To", "stripped-text"]),
                       st.text(max_size=200), max_size=8))
def test_email_form_parser_never_crashes(fields):
    only_invalid_input(lambda p: parse_inbound_form(p, RECEIVED, BRANDS), fields)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=8))
def test_csv_layout_detection_only_refuses_cleanly(header):
    only_invalid_input(detect_layout, header)


# -- over HTTP, against a running ingest and a real broker -----------------------------------

class ThreadedIngest:
    """An IngestService on its own event loop in a thread, so synchronous hypothesis tests can call it."""

    def __init__(self, bootstrap: str) -> None:
        self.port = free_port()
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "HEATDESK_INGEST_PORT": str(self.port),
               "HEATDESK_HTTP_HOST": "127.0.0.1", "HEATDESK_INGEST_MAX_BODY_BYTES": "65536",
               "HEATDESK_INGEST_X_CONSUMER_SECRET": "x-secret", "HEATDESK_INGEST_META_APP_SECRET": "meta-secret"}
        self.service = IngestService(loader.load(IngestSettings, env))
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self.started = threading.Event()

    async def _serve(self) -> None:
        original = self.service.start

        async def start() -> None:
            await original()
            self.started.set()

        self.service.start = start
        self.stop = asyncio.Event()
        await self.service.serve(self.stop)

    def __enter__(self) -> ThreadedIngest:
        self.thread.start()
        assert self.started.wait(30), "ingest did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)

    def post(self, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method="POST",
                                         headers={"Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", "")


from services.ingest.settings import IngestSettings  # noqa: E402 - after the class that uses it at run time


@pytest.fixture(scope="module")
def live_ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedIngest, EmbeddedBroker]]:
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path_factory.mktemp("fuzz") / "broker.log")
    broker.start()
    from services.common.config import ServiceSettings
    from services.common.kafka import ensure_topics
    from services.common.topics import all_topics

    asyncio.run(ensure_topics(loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}),
                              all_topics()))
    with ThreadedIngest(broker.bootstrap) as ingest:
        yield ingest, broker
    broker.stop()


ENDPOINTS = ["/v1/mentions", "/v1/responses", "/v1/channels/x", "/v1/channels/meta", "/v1/channels/email"]
bodies = (anything.map(lambda v: orjson.dumps(v)) | st.binary(max_size=3000)
          | st.text(max_size=500).map(lambda t: t.encode("utf-16"))  # a wrong encoding
          | st.text(max_size=500).map(lambda t: t.encode("latin-1", "replace"))
          | st.integers(65_537, 70_000).map(lambda n: b"{" * n))  # over the 64 KiB limit of this test's ingest
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                 "message/rfc822", "application/octet-stream", "application/json; charset=latin-1"])


@pytest.mark.integration
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(path=st.sampled_from(ENDPOINTS), body=bodies, content_type=content_types)
def test_hostile_bodies_get_4xx_problem_json(live_ingest, path, body, content_type):
    ingest, _ = live_ingest
    status, answer_type = ingest.post(path, body, content_type,
                                      headers={"x-twitter-webhooks-signature": "sha256=AAAA",
                                               "X-Hub-Signature-256": "sha256=00"})
    assert 400 <= status < 500, (status, path, body[:80])
    assert answer_type.startswith("application/problem+json")


@pytest.mark.integration
def test_after_the_fuzzing_nothing_was_published(live_ingest):
    """Runs after the property test in this module: a sentinel is the only record on the topics."""
    ingest, broker = live_ingest
    sentinel = {"channel": "x", "external_id": "fuzz-sentinel", "text": "sentinel", "author": {"id": "s"},
                "created_at": "2026-11-24T00:00:00Z"}
    status, _ = ingest.post("/v1/mentions", orjson.dumps(sentinel), "application/json")
    assert status == 202
    records = asyncio.run(read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 1, settle=1.0))
    assert [orjson.loads(r.value)["external_id"] for r in records] == ["fuzz-sentinel"]
    with pytest.raises(AssertionError):  # nothing at all on responses.v1
        asyncio.run(read_topic(broker.bootstrap, RESPONSES, until=lambda rs: len(rs) >= 1, timeout=2))
