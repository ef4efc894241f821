"""Every ingest source is authenticated, secrets are compared in constant time, and the two
gaps found in review stay closed.

- No endpoint that publishes accepts a post without its credential (token or platform
  signature) once the channel is configured.
- Every secret-derived comparison goes through `hmac.compare_digest` (spied on), so
  response timing reveals nothing about how much of a token or signature was right.
- X's CRC check answered any `crc_token` with HMAC-SHA256(consumer secret, crc_token) -
  the very signature X puts on a webhook body - so anyone could have a forged body signed
  by asking for it as a CRC token. Only tokens that look like X's are answered now.
- A Mailgun signature covers only its timestamp and token, not the message: a captured
  one authenticated any forged form forever. It must now be fresh and used once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from unittest import mock

import aiohttp
import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.ingest import auth
from services.ingest.app import IngestService
from services.ingest.auth import MailgunVerifier, crc_token_acceptable
from services.ingest.settings import IngestSettings
from tests.support import Running, mention_body

pytestmark = pytest.mark.integration

X_SECRET, META_SECRET, MAILGUN_KEY = "x-secret-for-auth-tests", "meta-secret-for-auth-tests", "mailgun-key-for-tests"
TOKEN = "tok-auth-tests-0123456789abcdef"
X_BODY = (b'{"data": {"id": "1790001", "text": "refund me", "author_id": "42", "created_at": "2026-11-24T00:00:00Z"},'
          b' "includes": {"users": [{"id": "42", "username": "jo"}]}}')


def service(service_env: dict[str, str]) -> IngestService:
    return IngestService(loader.load(IngestSettings, {
        **service_env, "HEATDESK_INGEST_PORT": str(free_port()), "HEATDESK_INGEST_API_TOKENS": f"crm:{TOKEN}",
        "HEATDESK_INGEST_X_CONSUMER_SECRET": X_SECRET, "HEATDESK_INGEST_META_APP_SECRET": META_SECRET,
        "HEATDESK_INGEST_META_VERIFY_TOKEN": "meta-verify", "HEATDESK_INGEST_MAILGUN_SIGNING_KEY": MAILGUN_KEY}))


def mailgun_form(timestamp: str, token: str, key: str = MAILGUN_KEY, **fields: str) -> dict[str, str]:
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": signature, "from": "Lee <lee@example.net>",
            "subject": "Damaged", "body-plain": "Box crushed", "Message-Id": f"<{token}@example.net>", **fields}


async def test_no_publishing_endpoint_accepts_a_post_without_its_credential(service_env):
    svc = service(service_env)
    async with Running(svc), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        json_body = mention_body("auth-1", "refund me")
        attempts = [
            ("/v1/mentions", {"json": json_body}),
            ("/v1/mentions", {"json": json_body, "headers": {"Authorization": "Bearer " + TOKEN[:-1] + "x"}}),
            ("/v1/mentions", {"json": json_body, "headers": {"Authorization": "Basic " + base64.b64encode(
                b"crm:wrong-token-0123456789").decode()}}),
            ("/v1/responses", {"json": {"channel": "x", "external_id": "r1", "kind": "reply"}}),
            ("/v1/channels/x", {"data": X_BODY, "headers": {"Content-Type": "application/json"}}),
            ("/v1/channels/x", {"data": X_BODY, "headers": {"Content-Type": "application/json",
                                                             "x-twitter-webhooks-signature": "sha256=" + "A" * 44}}),
            ("/v1/channels/meta", {"data": b'{"object": "page", "entry": []}',
                                   "headers": {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"}}),
            ("/v1/channels/email", {"data": b"From: a@b.example\r\n\r\nhi", "headers": {"Content-Type": "message/rfc822"}}),
            ("/v1/channels/email", {"json": {"From": "a@b.example", "TextBody": "hi"}}),
            ("/v1/channels/email", {"data": {"from": "a@b.example", "body-plain": "hi"}}),
            ("/v1/channels/email", {"data": mailgun_form(str(int(time.time())), "t-wrong-key", key="not-the-key")}),
        ]
        for path, kwargs in attempts:
            async with http.post(base + path, **kwargs) as resp:
                assert resp.status == 401, (path, kwargs, resp.status, await resp.text())
                assert resp.content_type == "application/problem+json"
        async with http.get(base + "/v1/channels/meta", params={"hub.mode": "subscribe", "hub.verify_token": "meta-verif",
                                                                "hub.challenge": "c"}) as resp:
            assert resp.status == 403
        assert svc.metrics.mentions_ingested._metrics == {}  # noqa: SLF001 - nothing was published


async def test_x_crc_is_not_a_signing_oracle(service_env):
    svc = service(service_env)
    async with Running(svc), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        # The attack: ask for the CRC answer of a webhook body, post that body with it as the signature.
        async with http.get(base + "/v1/channels/x", params={"crc_token": X_BODY.decode()}) as resp:
            assert resp.status == 400, "the CRC endpoint signed an arbitrary body"
            forged = (await resp.json(content_type=None)).get("response_token", "sha256=")
        async with http.post(base + "/v1/channels/x", data=X_BODY, headers={
                "Content-Type": "application/json", "x-twitter-webhooks-signature": forged}) as resp:
            assert resp.status == 401
        # X's own challenges are still answered.
        token = base64.urlsafe_b64encode(b"\x00" * 30 + b"\xff" * 6).decode()
        async with http.get(base + "/v1/channels/x", params={"crc_token": token}) as resp:
            assert resp.status == 200
            expected = base64.b64encode(hmac.new(X_SECRET.encode(), token.encode(), hashlib.sha256).digest()).decode()
            assert (await resp.json())["response_token"] == "sha256=" + expected
    for body in (b"{}", b"[]", b'{"a":1}', b" {", b"\n"):
        assert not crc_token_acceptable(body.decode())


async def test_mailgun_signatures_must_be_fresh_and_used_once(service_env, broker):
    svc = service(service_env)
    async with Running(svc), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/channels/email"
        now = int(time.time())
        fresh = mailgun_form(str(now), "token-fresh-1")
        async with http.post(url, data=fresh) as resp:
            assert resp.status == 200, await resp.text()
        replay = {**fresh, "body-plain": "forged: send the refund to my other account", "Message-Id": "<f@x>"}
        async with http.post(url, data=replay) as resp:
            assert resp.status == 401  # the same token again
        async with http.post(url, data=mailgun_form(str(now - 3600), "token-stale")) as resp:
            assert resp.status == 401  # an hour old
        async with http.post(url, data=mailgun_form(str(now + 3600), "token-future")) as resp:
            assert resp.status == 401
        async with http.post(url, data=mailgun_form("not-a-time", "token-x")) as resp:
            assert resp.status == 401
    clock = [1_000_000.0]
    verifier = MailgunVerifier("k", max_age_s=300, clock=lambda: clock[0], capacity=3)
    sign = lambda ts, tok: hmac.new(b"k", (ts + tok).encode(), hashlib.sha256).hexdigest()  # noqa: E731
    for i in range(10):  # the memory of used tokens stays bounded
        assert verifier.verify(str(clock[0]), f"t{i}", sign(str(clock[0]), f"t{i}"))
        clock[0] += 1
    assert len(verifier._seen) <= 3  # noqa: SLF001


async def test_every_secret_comparison_is_constant_time(service_env):
    svc = service(service_env)
    real = hmac.compare_digest
    calls: list[tuple[bytes | str, bytes | str]] = []

    def spy(a, b):  # noqa: ANN001, ANN202 - hmac.compare_digest's signature
        calls.append((a, b))
        return real(a, b)

    async with Running(svc), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        x_sig = "sha256=" + base64.b64encode(hmac.new(X_SECRET.encode(), X_BODY, hashlib.sha256).digest()).decode()
        meta_body = b'{"object": "page", "entry": []}'
        meta_sig = "sha256=" + hmac.new(META_SECRET.encode(), meta_body, hashlib.sha256).hexdigest()
        checks = {
            "bearer token": ("post", "/v1/mentions", {"json": mention_body("ct-1", "hi"),
                                                      "headers": {"Authorization": f"Bearer {TOKEN}"}}),
            "x signature": ("post", "/v1/channels/x", {"data": X_BODY, "headers": {
                "Content-Type": "application/json", "x-twitter-webhooks-signature": x_sig}}),
            "meta signature": ("post", "/v1/channels/meta", {"data": meta_body, "headers": {
                "Content-Type": "application/json", "X-Hub-Signature-256": meta_sig}}),
            "meta verify token": ("get", "/v1/channels/meta", {"params": {
                "hub.mode": "subscribe", "hub.verify_token": "meta-verify", "hub.challenge": "c"}}),
            "mailgun signature": ("post", "/v1/channels/email", {"data": mailgun_form(str(int(time.time())), "ct-tok")}),
        }
        with mock.patch.object(hmac, "compare_digest", spy), mock.patch.object(auth.hmac, "compare_digest", spy):
            for what, (method, path, kwargs) in checks.items():
                calls.clear()
                async with http.request(method, base + path, **kwargs) as resp:
                    assert resp.status < 300, (what, resp.status, await resp.text())
                assert calls, f"{what} was not compared with hmac.compare_digest"
