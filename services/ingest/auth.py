"""Who may post: bearer tokens per source, platform signatures, per-source rate limits.

Every comparison of a secret-derived value is constant-time (`hmac.compare_digest`), so
response timing reveals nothing about how much of a token or signature was right.
Secrets come from settings (environment or mounted files) and are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from services.common.auth import parse_tokens, token_source

__all__ = ["RateLimiter", "hmac_sha256", "parse_tokens", "token_source", "verify_prefixed_signature", "x_crc_response"]


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def verify_prefixed_signature(header: str | None, secret: str, body: bytes, *, encoding: str) -> bool:
    """Check a `sha256=<digest>` header (hex for Meta, base64 for X) against the body's HMAC."""
    if not header or not header.startswith("sha256="):
        return False
    digest = hmac_sha256(secret, body)
    expected = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return hmac.compare_digest(header[len("sha256="):].strip().encode(), expected.encode())


def x_crc_response(consumer_secret: str, crc_token: str) -> str:
    """The CRC answer X expects: `sha256=` + base64(HMAC-SHA256(consumer secret, crc_token))."""
    return "sha256=" + base64.b64encode(hmac_sha256(consumer_secret, crc_token.encode())).decode()


#: What X sends as a crc_token: a short random string of URL-safe or base64 characters.
_CRC_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")


def crc_token_acceptable(crc_token: str) -> bool:
    """Only answer CRC challenges that look like X's own.

    The CRC answer is HMAC-SHA256(consumer secret, crc_token), which is exactly the
    x-twitter-webhooks-signature of a body equal to crc_token: answering any string would
    make the endpoint a signing oracle for forged webhook posts. A webhook body is a JSON
    object (it starts with `{`), which this alphabet cannot spell.
    """
    return _CRC_TOKEN.fullmatch(crc_token) is not None


class MailgunVerifier:
    """Mailgun's webhook signature: HMAC-SHA256(signing key, timestamp + token), hex.

    The signature covers neither the message nor the time of the request, so on its own a
    captured (timestamp, token, signature) triple would authenticate any forged form. As
    Mailgun advises, a signature is only accepted with a timestamp within `max_age_s` of
    now and a token not seen before (remembered for that long; per replica - a replay to
    another replica is still bounded by the timestamp window).
    """

    def __init__(self, key: str, max_age_s: float = 300.0, clock: object = time.time, capacity: int = 100_000) -> None:
        self.key = key
        self.max_age_s = max_age_s
        self._clock = clock
        self.capacity = capacity
        self._seen: dict[str, float] = {}

    def verify(self, timestamp: str, token: str, signature: str) -> bool:
        expected = hmac_sha256(self.key, (timestamp + token).encode()).hex()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return False
        now = self._clock()  # type: ignore[operator]
        try:
            age = now - float(timestamp)
        except ValueError:
            return False
        if not (-self.max_age_s <= age <= self.max_age_s) or token in self._seen:
            return False
        self._seen[token] = now
        if len(self._seen) > self.capacity or next(iter(self._seen.values())) < now - 2 * self.max_age_s:
            self._seen = {t: at for t, at in self._seen.items() if at >= now - 2 * self.max_age_s}
            while len(self._seen) > self.capacity:
                self._seen.pop(next(iter(self._seen)))
        return True


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per source: `rate` requests per second with bursts of `burst`."""

    def __init__(self, rate: float, burst: float, clock: object = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, source: str) -> tuple[bool, float]:
        """(allowed, seconds until the next request would be allowed)."""
        if self.rate <= 0:
            return True, 0.0
        now = self._clock()  # type: ignore[operator]
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True, 0.0
        return False, (1 - bucket.tokens) / self.rate
