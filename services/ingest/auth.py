"""Who may post: bearer tokens per source, platform signatures, per-source rate limits.

Every comparison of a secret-derived value is constant-time (`hmac.compare_digest`), so
response timing reveals nothing about how much of a token or signature was right.
Secrets come from settings (environment or mounted files) and are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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
