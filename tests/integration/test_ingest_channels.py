"""Every channel endpoint over HTTP against the real broker: handshakes, signatures, tokens, limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.topics import DEADLETTER, MENTIONS_RAW, RESPONSES
from services.ingest.app import IngestService
from services.ingest.settings import IngestSettings
from tests.support import LocalServer, Running, events, mention_body, metric_sum, parse_metrics, read_topic, validate_event

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[1] / "data" / "channels"
X_SECRET = "x-consumer-secret-for-tests"
META_SECRET = "meta-app-secret-for-tests"
TOKEN = "tok-helpdesk-0123456789abcdef"


def _service(service_env: dict[str, str], **extra: str) -> IngestService:
    env = {**service_env, "HEATDESK_INGEST_PORT": str(free_port()), "HEATDESK_INGEST_X_CONSUMER_SECRET": X_SECRET,
           "HEATDESK_INGEST_META_APP_SECRET": META_SECRET, "HEATDESK_INGEST_META_VERIFY_TOKEN": "verify-me",
           "HEATDESK_INGEST_API_TOKENS": f"helpdesk:{TOKEN}", "HEATDESK_INGEST_BRAND_ACCOUNTS": "x:AcmeHelp",
           **extra}
    return IngestService(loader.load(IngestSettings, env))


def x_signature(body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(X_SECRET.encode(), body, hashlib.sha256).digest()).decode()


def meta_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def test_x_crc_challenge(service_env):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        async with http.get(f"{base}/v1/channels/x", params={"crc_token": "challenge-123"}) as resp:
            assert resp.status == 200
            expected = base64.b64encode(hmac.new(X_SECRET.encode(), b"challenge-123", hashlib.sha256).digest())
            assert await resp.json() == {"response_token": "sha256=" + expected.decode()}
        async with http.get(f"{base}/v1/channels/x") as resp:
            assert resp.status == 400


async def test_x_signed_webhook_publishes_mention_and_brand_reply(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/channels/x"
        for name in ("x_filtered_stream.json", "x_brand_reply.json"):
            body = (DATA / name).read_bytes()
            async with http.post(url, data=body, headers={"Content-Type": "application/json",
                                                          "x-twitter-webhooks-signature": x_signature(body)}) as resp:
                assert resp.status == 200, await resp.text()
        mentions = await read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 1)
        responses = await read_topic(broker.bootstrap, RESPONSES, until=lambda rs: len(rs) >= 1)
    (mention,) = events(mentions)
    (response,) = events(responses)
    validate_event(mention)
    validate_event(response)
    assert mention.key == "x:2244994945" and response.key == "x:2244994945"  # same partition key: one customer


async def test_x_wrong_signature_is_401_and_publishes_nothing(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        body = (DATA / "x_filtered_stream.json").read_bytes()
        for signature in (None, "sha256=AAAA", x_signature(body + b" ")):
            headers = {"Content-Type": "application/json"}
            if signature:
                headers["x-twitter-webhooks-signature"] = signature
            async with http.post(f"{base}/v1/channels/x", data=body, headers=headers) as resp:
                assert resp.status == 401
                assert resp.content_type == "application/problem+json"
        async with http.post(f"{base}/v1/mentions", json=mention_body("sentinel", "ok"),
                             headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            sentinel = (await resp.json())["id"]
        records = await read_topic(broker.bootstrap, MENTIONS_RAW,
                                   until=lambda rs: any(e.data["id"] == sentinel for e in events(rs)), settle=1.0)
        assert [e.data["id"] for e in events(records)] == [sentinel]
        async with http.get(f"{base}/metrics") as resp:
            metrics = parse_metrics(await resp.text())
        assert metric_sum(metrics, "heatdesk_mentions_rejected_total", channel="x", reason="bad_signature") == 3


async def test_meta_verification_and_signed_webhook(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/channels/meta"
        ok = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
        async with http.get(url, params=ok) as resp:
            assert resp.status == 200 and await resp.text() == "1158201444"
        async with http.get(url, params={**ok, "hub.verify_token": "wrong"}) as resp:
            assert resp.status == 403
        body = (DATA / "meta_page_feed.json").read_bytes()
        async with http.post(url, data=body, headers={"Content-Type": "application/json",
                                                      "X-Hub-Signature-256": meta_signature(body)}) as resp:
            assert resp.status == 200
            summary = await resp.json()
        assert len(summary["mentions"]) == 2 and len(summary["responses"]) == 2 and summary["ignored"] == 1
        async with http.post(url, data=body, headers={"Content-Type": "application/json",
                                                      "X-Hub-Signature-256": "sha256=" + "0" * 64}) as resp:
            assert resp.status == 401
        records = await read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 2)
    assert sorted(e.data["channel"] for e in events(records)) == ["facebook", "facebook"]


async def test_email_endpoint_accepts_raw_and_forms_with_token(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/channels/email"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        raw = (DATA / "email_raw.eml").read_bytes()
        async with http.post(url, data=raw, headers={**auth, "Content-Type": "message/rfc822"}) as resp:
            assert resp.status == 200, await resp.text()
        form = aiohttp.FormData({"from": "Lee <lee@example.net>", "subject": "Damaged", "text": "Box crushed",
                                 "headers": "Message-ID: <m-2@example.net>\n"})
        async with http.post(url, data=form, headers=auth) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(url, data=raw, headers={"Content-Type": "message/rfc822"}) as resp:
            assert resp.status == 401  # no token
        async with http.post(url, data=b"x", headers={**auth, "Content-Type": "text/plain"}) as resp:
            assert resp.status == 415
        records = await read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 2)
    assert sorted(e.data["external_id"] for e in events(records)) == ["CAF3x-reply-2@mail.example.org",
                                                                       "m-2@example.net"]


async def test_tokens_rate_limits_and_unconfigured_channels(service_env):
    svc = _service(service_env, HEATDESK_INGEST_RATE_LIMIT_PER_S="1", HEATDESK_INGEST_RATE_LIMIT_BURST="2",
                   HEATDESK_INGEST_X_CONSUMER_SECRET="")
    async with Running(svc), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        async with http.post(f"{base}/v1/mentions", json=mention_body("t-1", "hi")) as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.post(f"{base}/v1/mentions", json=mention_body("t-1", "hi"),
                             headers={"Authorization": "Bearer not-a-valid-token-at-all"}) as resp:
            assert resp.status == 401
        statuses = []
        for i in range(4):
            async with http.post(f"{base}/v1/mentions", json=mention_body(f"t-{i}", "hi"),
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    assert int(resp.headers["Retry-After"]) >= 1
        assert statuses[:2] == [202, 202] and 429 in statuses[2:]
        async with http.post(f"{base}/v1/channels/x", data=b"{}", headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 403
            assert (await resp.json(content_type=None))["type"].endswith("channel-not-configured")


async def test_responses_endpoint(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/responses"
        body = {"channel": "email", "external_id": "zendesk-comment-991", "kind": "reply",
                "in_reply_to": "CAF3x-reply-2@mail.example.org", "author": {"id": "agent-7", "name": "Kim"},
                "text": "We removed the fee.", "created_at": "2024-03-05T10:00:00Z", "public": False}
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 202
            response_id = (await resp.json())["id"]
        async with http.post(url, json={**body, "kind": "nope"}, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 422
            assert json.loads(await resp.text())["errors"][0]["pointer"] == "/kind"
        records = await read_topic(broker.bootstrap, RESPONSES, until=lambda rs: len(rs) >= 1)
    (event,) = events(records)
    validate_event(event)
    assert event.data["id"] == response_id and event.data["source"] == "api"


class FakeGraph(LocalServer):
    """A Graph API on loopback: answers `mentioned_comment` / `mentioned_media` of one IG user,
    and records what it was asked (the token must come in the header, never in the URL)."""

    path = "/v21.0/{user}"
    method = "GET"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, str]] = []
        self.status = 200  # what the next answers carry when not 200

    async def handle(self, request: web.Request) -> web.Response:
        fields = request.query.get("fields", "")
        self.requests.append((request.match_info["user"], fields, request.headers.get("Authorization", "")))
        if self.status != 200:
            return web.json_response({"error": {"message": "Invalid OAuth access token", "code": 190}},
                                     status=self.status)
        if fields.startswith("mentioned_comment.comment_id(17900000000000001)"):
            return web.json_response({"id": request.match_info["user"], "mentioned_comment": {
                "id": "17900000000000001", "text": "@acme_ig my order never came and support ignores me",
                "timestamp": "2026-11-30T09:15:00+0000", "username": "dana.k",
                "media": {"id": "17800000000000009", "permalink": "https://www.instagram.com/p/Cabc/"}}})
        if fields.startswith("mentioned_media.media_id(17800000000000009)"):
            return web.json_response({"id": request.match_info["user"], "mentioned_media": {
                "id": "17800000000000009", "caption": "Unboxing my broken @acme_ig blender #fail",
                "timestamp": "2026-11-30T08:00:00+0000", "username": "dana.k",
                "permalink": "https://www.instagram.com/p/Cabc/"}})
        return web.json_response({"error": {"message": "Object does not exist", "code": 100}}, status=400)


def ig_mentions(*values: dict) -> bytes:
    return json.dumps({"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1764494100, "changes": [
        {"field": "mentions", "value": v} for v in values]}]}).encode()


async def post_meta(http: aiohttp.ClientSession, base: str, body: bytes) -> tuple[int, dict]:
    async with http.post(f"{base}/v1/channels/meta", data=body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body)}) as resp:
        return resp.status, await resp.json()


async def test_instagram_mentions_are_fetched_from_the_graph_api_or_dead_lettered(service_env, broker):
    """Meta's `mentions` webhook carries ids only: the words come from the Graph API; a refusal is a
    dead letter with the Graph API's reason; an outage is a 503 so Meta delivers again."""
    comment = {"media_id": "17800000000000009", "comment_id": "17900000000000001"}
    caption = {"media_id": "17800000000000009"}
    deleted = {"media_id": "17800000000000009", "comment_id": "17900000000000404"}
    async with FakeGraph() as graph, Running(_service(
            service_env, HEATDESK_INGEST_GRAPH_URL=f"http://127.0.0.1:{graph.port}/v21.0",
            HEATDESK_INGEST_GRAPH_TOKEN="ig-token-for-tests")) as svc, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        status, summary = await post_meta(http, base, ig_mentions(comment, caption, deleted))
        assert status == 200, summary
        assert len(summary["mentions"]) == 2
        assert summary["deadlettered"] == [{"reason": "unfetched_mention", "key": "instagram:17900000000000404"}]
        assert all(user == "17841400000000001" and auth == "Bearer ig-token-for-tests"
                   for user, _, auth in graph.requests)
        graph.status = 503
        status, problem_body = await post_meta(http, base, ig_mentions({"media_id": "1", "comment_id": "2"}))
        assert status == 503 and problem_body["type"].endswith("graph-unavailable")
        mentions = await read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 2)
        letters = await read_topic(broker.bootstrap, DEADLETTER, until=lambda rs: len(rs) >= 1)
        async with http.get(f"{base}/metrics") as resp:
            scraped = parse_metrics(await resp.text())
    by_kind = {e.data["kind"]: e.data for e in events(mentions)}
    assert len(events(mentions)) == 2  # the 503'd webhook published nothing
    for event in events(mentions):
        validate_event(event)
    assert by_kind["comment"]["text"] == "@acme_ig my order never came and support ignores me"
    assert by_kind["comment"]["external_id"] == "17900000000000001"
    assert by_kind["comment"]["conversation_id"] == "17800000000000009"
    assert by_kind["comment"]["created_at"] == "2026-11-30T09:15:00Z"
    assert by_kind["comment"]["author"]["handle"] == "dana.k"
    assert by_kind["comment"]["author"]["followers_known"] is False
    assert by_kind["post"]["hashtags"] == ["fail"] and by_kind["post"]["url"] == "https://www.instagram.com/p/Cabc/"
    (letter,) = letters
    headers = dict(letter.headers)
    assert headers["heatdesk_dlq_stage"] == b"ingest" and headers["heatdesk_dlq_reason"] == b"unfetched_mention"
    assert b"Object does not exist" in headers["heatdesk_dlq_detail"]
    assert json.loads(letter.value)["comment_id"] == "17900000000000404"
    assert metric_sum(scraped, "heatdesk_deadletter_total", stage="ingest", reason="unfetched_mention") == 1


async def test_instagram_mentions_without_a_graph_token_are_dead_lettered_with_what_to_set(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        status, summary = await post_meta(http, f"http://127.0.0.1:{svc.settings.ingest_port}",
                                          ig_mentions({"media_id": "17800000000000009", "comment_id": "1790"}))
        assert status == 200 and summary["mentions"] == [] and len(summary["deadlettered"]) == 1
        (letter,) = await read_topic(broker.bootstrap, DEADLETTER, until=lambda rs: len(rs) >= 1)
    assert b"HEATDESK_INGEST_GRAPH_TOKEN" in dict(letter.headers)["heatdesk_dlq_detail"]
