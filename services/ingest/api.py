"""HTTP endpoints of ingest: one handler per channel, one pipeline for every request.

Each request goes through the same steps, each with its own RFC 9457 answer:
rate limit (429) → authentication: token or platform signature (401; 403 for a channel
that is not configured) → content type (415) → size (413) → parse (400) → validate (422)
→ publish and wait for the broker's acknowledgement (503 with Retry-After) → 2xx.
Nothing is published unless every step passed, and a 2xx is only sent after the
acknowledgement, so an accepted post is never lost.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from services.common.channels import CHANNELS
from services.common.errors import InvalidInput, PublishFailed, RecordRejected
from services.common.metrics import Metrics
from services.common.problem import problem
from services.common.timeutil import utcnow
from services.ingest import graph
from services.ingest.auth import (
    MailgunVerifier,
    RateLimiter,
    crc_token_acceptable,
    token_source,
    verify_prefixed_signature,
    x_crc_response,
)
from services.ingest.channels.common import BrandAccounts, Parsed
from services.ingest.channels.email import parse_inbound_form, parse_postmark, parse_rfc822
from services.ingest.channels.generic import parse_generic_mention
from services.ingest.channels.meta import parse_meta
from services.ingest.channels.responses import parse_response
from services.ingest.channels.x import parse_x
from services.ingest.graph import GraphClient, GraphUnavailable
from services.ingest.publish import IngestPublisher
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

JSON = ("application/json",)
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
RFC822 = ("message/rfc822",)


@dataclasses.dataclass
class Attempt:
    """What a request is known to be so far: the channel label may only be known after parsing."""

    channel: str
    problem_slug: str = "invalid-payload"


class Rejected(Exception):
    """Control flow: stop the request with this problem response."""

    def __init__(self, response: web.Response, reason: str) -> None:
        self.response = response
        self.reason = reason


def _is(content_type: str, allowed: tuple[str, ...]) -> bool:
    return content_type in allowed or ("application/json" in allowed and content_type.endswith("+json"))


class IngestApi:
    def __init__(self, settings: IngestSettings, metrics: Metrics, publisher: Callable[[], IngestPublisher | None],
                 tokens: dict[str, str]) -> None:
        self.settings = settings
        self.metrics = metrics
        self._latency = metrics.pipeline_latency.labels("ingest")  # looked up once, observed per post
        self._publisher = publisher
        self.tokens = tokens
        self.brands = BrandAccounts(settings.ingest_brand_accounts)
        self.limiter = RateLimiter(settings.ingest_rate_limit_per_s, settings.ingest_rate_limit_burst)
        self.mailgun = MailgunVerifier(settings.ingest_mailgun_signing_key) if settings.ingest_mailgun_signing_key else None
        self.graph = (GraphClient(settings.ingest_graph_url, settings.ingest_graph_token, settings.ingest_graph_timeout_s)
                      if settings.ingest_graph_token else None)
        self.in_flight = 0

    async def close(self) -> None:
        if self.graph is not None:
            await self.graph.close()

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/mentions", self.post_mention)
        app.router.add_post("/v1/responses", self.post_response)
        app.router.add_get("/v1/channels/x", self.x_crc)
        app.router.add_post("/v1/channels/x", self.post_x)
        app.router.add_get("/v1/channels/meta", self.meta_verify)
        app.router.add_post("/v1/channels/meta", self.post_meta)
        app.router.add_post("/v1/channels/email", self.post_email)

    # -- the shared steps ---------------------------------------------------------------

    def _limit(self, source: str) -> None:
        allowed, wait = self.limiter.allow(source)
        if not allowed:
            raise Rejected(problem(429, "rate-limited", "Too many requests", f"Source {source!r} is over its rate.",
                                   headers={"Retry-After": str(max(1, int(wait + 0.999)))}), "rate_limited")

    def _token(self, request: web.Request) -> str:
        """The caller's source name from its token; open when no tokens are configured (development)."""
        if not self.tokens:
            return "anonymous"
        source = token_source(request.headers.get("Authorization"), self.tokens)
        if source is None:
            raise Rejected(problem(401, "unauthorized", "Missing or invalid token",
                                   "Send Authorization: Bearer <token> issued for your source.",
                                   headers={"WWW-Authenticate": 'Bearer realm="heatdesk-ingest"'}), "unauthorized")
        return source

    @staticmethod
    def _content_type(request: web.Request, allowed: tuple[str, ...]) -> None:
        if not _is(request.content_type, allowed):
            raise Rejected(problem(415, "unsupported-media-type", "Unsupported media type",
                                   f"Send {' or '.join(allowed)}, not {request.content_type or 'no content type'}."),
                           "unsupported_media_type")

    async def _body(self, request: web.Request) -> bytes:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Rejected(problem(413, "payload-too-large", "Payload too large",
                                   f"The body exceeds {self.settings.ingest_max_body_bytes} bytes."), "too_large") from None

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Rejected(problem(400, "invalid-json", "Body is not valid JSON", str(exc)), "invalid_json") from exc

    async def _run(self, attempt: Attempt, handler: Callable[[datetime], Awaitable[Parsed]],
                   status: int, single: str | None = None) -> web.Response:
        """Parse (422 on InvalidInput), publish (503/413), answer; count every outcome by channel.

        `single` ("mentions" or "responses"): the v1 answer of the one-post endpoints,
        `{"id": …, "duplicate": bool}`, instead of the summary the webhooks get.
        """
        received_at = utcnow()
        started = time.perf_counter()
        try:
            parsed = await handler(received_at)
        except Rejected as exc:
            self.metrics.mentions_rejected.labels(attempt.channel, exc.reason).inc()
            return exc.response
        except InvalidInput as exc:
            self.metrics.mentions_rejected.labels(attempt.channel, "invalid").inc()
            return problem(422, attempt.problem_slug, exc.title, errors=exc.errors)
        channel = attempt.channel
        if self.in_flight >= self.settings.ingest_max_in_flight:
            self.metrics.mentions_rejected.labels(channel, "overloaded").inc()
            return problem(503, "overloaded", "Too many posts in flight", "Retry after the indicated delay.",
                           headers={"Retry-After": "1"})
        publisher = self._publisher()
        if publisher is None:  # still connecting to the broker at start
            self.metrics.mentions_rejected.labels(channel, "broker_unavailable").inc()
            return problem(503, "broker-unavailable", "Not connected to the broker yet",
                           "Nothing was accepted; retry after the indicated delay.",
                           headers={"Retry-After": str(self.settings.ingest_retry_after_s)})
        self.in_flight += 1
        try:
            published = await publisher.publish(parsed, self.settings.ingest_publish_timeout_s)
        except RecordRejected as exc:
            self.metrics.mentions_rejected.labels(channel, "too_large").inc()
            return problem(413, "payload-too-large", "The broker refused the record", str(exc))
        except (TimeoutError, PublishFailed) as exc:
            log.warning("publish failed; answering 503", extra={"channel": channel, "error": repr(exc)})
            self.metrics.mentions_rejected.labels(channel, "broker_unavailable").inc()
            return problem(503, "broker-unavailable", "The broker did not acknowledge the post",
                           "Nothing was accepted; retry after the indicated delay.",
                           headers={"Retry-After": str(self.settings.ingest_retry_after_s)})
        finally:
            self.in_flight -= 1
        self._latency.observe(time.perf_counter() - started)
        body: dict[str, Any]
        if single is not None:
            ids = published.mention_ids if single == "mentions" else published.response_ids
            body = {"id": ids[0], "duplicate": published.duplicates > 0}
        else:
            body = {"mentions": published.mention_ids, "responses": published.response_ids,
                    "ignored": len(parsed.ignored), "duplicates": published.duplicates}
            if parsed.letters:
                body["deadlettered"] = [{"reason": d.reason, "key": d.key} for d in parsed.letters]
        return web.Response(status=status, content_type="application/json", body=orjson.dumps(body))

    # -- endpoints -----------------------------------------------------------------------

    async def post_mention(self, request: web.Request) -> web.Response:
        attempt = Attempt("unknown", "invalid-mention")

        async def handle(received_at: datetime) -> Parsed:
            self._limit(self._token(request))
            self._content_type(request, JSON)
            body = self._json(await self._body(request))
            if isinstance(body, dict) and body.get("channel") in CHANNELS:
                attempt.channel = body["channel"]
            return Parsed(mentions=[parse_generic_mention(body, received_at)])

        return await self._run(attempt, handle, 202, single="mentions")

    async def post_response(self, request: web.Request) -> web.Response:
        async def handle(received_at: datetime) -> Parsed:
            self._limit(self._token(request))
            self._content_type(request, JSON)
            return Parsed(responses=[parse_response(self._json(await self._body(request)), received_at)])

        return await self._run(Attempt("responses", "invalid-response"), handle, 202, single="responses")

    async def x_crc(self, request: web.Request) -> web.Response:
        """X's Challenge-Response Check: prove we hold the consumer secret."""
        secret = self.settings.ingest_x_consumer_secret
        if not secret:
            return problem(403, "channel-not-configured", "The x channel is not configured",
                           "Set HEATDESK_INGEST_X_CONSUMER_SECRET.")
        token = request.query.get("crc_token")
        if not token:
            return problem(400, "missing-crc-token", "crc_token is required")
        if not crc_token_acceptable(token):  # else the answer would sign an arbitrary webhook body
            return problem(400, "invalid-crc-token", "crc_token is not a token X would send")
        return web.json_response({"response_token": x_crc_response(secret, token)})

    async def post_x(self, request: web.Request) -> web.Response:
        async def handle(received_at: datetime) -> Parsed:
            secret = self.settings.ingest_x_consumer_secret
            if not secret:
                raise Rejected(problem(403, "channel-not-configured", "The x channel is not configured",
                                       "Set HEATDESK_INGEST_X_CONSUMER_SECRET."), "not_configured")
            self._limit("x")
            self._content_type(request, JSON)
            raw = await self._body(request)
            if not verify_prefixed_signature(request.headers.get("x-twitter-webhooks-signature"), secret, raw,
                                             encoding="base64"):
                raise Rejected(problem(401, "bad-signature", "Signature does not match",
                                       "x-twitter-webhooks-signature must be sha256=base64(HMAC-SHA256(secret, body))."),
                               "bad_signature")
            return parse_x(self._json(raw), received_at, self.brands)

        return await self._run(Attempt("x"), handle, 200)

    async def meta_verify(self, request: web.Request) -> web.Response:
        """Graph API subscription check: echo hub.challenge when hub.verify_token matches."""
        expected = self.settings.ingest_meta_verify_token
        if not expected:
            return problem(403, "channel-not-configured", "The meta channel is not configured",
                           "Set HEATDESK_INGEST_META_VERIFY_TOKEN.")
        given = request.query.get("hub.verify_token", "")
        if request.query.get("hub.mode") != "subscribe" or not hmac.compare_digest(given.encode(), expected.encode()):
            return problem(403, "verification-failed", "hub.verify_token does not match")
        return web.Response(text=request.query.get("hub.challenge", ""))

    async def post_meta(self, request: web.Request) -> web.Response:
        async def handle(received_at: datetime) -> Parsed:
            secret = self.settings.ingest_meta_app_secret
            if not secret:
                raise Rejected(problem(403, "channel-not-configured", "The meta channel is not configured",
                                       "Set HEATDESK_INGEST_META_APP_SECRET."), "not_configured")
            self._limit("meta")
            self._content_type(request, JSON)
            raw = await self._body(request)
            if not verify_prefixed_signature(request.headers.get("X-Hub-Signature-256"), secret, raw, encoding="hex"):
                raise Rejected(problem(401, "bad-signature", "Signature does not match",
                                       "X-Hub-Signature-256 must be sha256=hex(HMAC-SHA256(app secret, body))."),
                               "bad_signature")
            parsed = parse_meta(self._json(raw), received_at, self.brands)
            if not parsed.references:
                return parsed
            try:
                fetched, letters = await graph.resolve(parsed.references, self.graph, received_at)
            except GraphUnavailable as exc:
                log.warning("Graph API unavailable; answering 503 so Meta delivers again", extra={"error": str(exc)})
                raise Rejected(problem(503, "graph-unavailable", "The Graph API did not answer",
                                       f"{exc} Nothing was accepted; Meta delivers the webhook again.",
                                       headers={"Retry-After": str(self.settings.ingest_retry_after_s)}),
                               "graph_unavailable") from exc
            return dataclasses.replace(parsed, mentions=parsed.mentions + fetched, references=[],
                                       letters=parsed.letters + letters)

        return await self._run(Attempt("meta"), handle, 200)

    async def post_email(self, request: web.Request) -> web.Response:
        async def handle(received_at: datetime) -> Parsed:
            self._content_type(request, JSON + FORMS + RFC822)
            if request.content_type in FORMS:
                fields = await self._form(request)
                self._email_auth(request, fields)
                return parse_inbound_form(fields, received_at, self.brands)
            self._email_auth(request, {})
            raw = await self._body(request)
            if request.content_type in RFC822:
                return parse_rfc822(raw, received_at, self.brands)
            return parse_postmark(self._json(raw), received_at, self.brands)

        return await self._run(Attempt("email"), handle, 200)

    def _email_auth(self, request: web.Request, fields: dict[str, str]) -> None:
        """A Mailgun signature when a signing key is set and the form carries one; else the API token."""
        if self.mailgun is not None and fields.get("signature"):
            if not self.mailgun.verify(fields.get("timestamp", ""), fields.get("token", ""), fields["signature"]):
                raise Rejected(problem(401, "bad-signature", "Mailgun signature does not match",
                                       "The signature must be fresh (timestamp within 5 minutes) and its token "
                                       "not used before."), "bad_signature")
            self._limit("mailgun")
            return
        self._limit(self._token(request))

    async def _form(self, request: web.Request) -> dict[str, str]:
        try:
            if request.content_type == "multipart/form-data":
                form = await request.post()
                return {k: v for k, v in form.items() if isinstance(v, str)}
            raw = await self._body(request)
            return dict(parse_qsl(raw.decode("utf-8", "strict"), keep_blank_values=True))
        except web.HTTPRequestEntityTooLarge:
            raise Rejected(problem(413, "payload-too-large", "Payload too large"), "too_large") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise Rejected(problem(400, "invalid-form", "Body is not a valid form", str(exc)[:200]),
                           "invalid_form") from exc

