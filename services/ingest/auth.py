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
from collections.abc import Mapping
from dataclasses import dataclass


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


def parse_tokens(raw: str) -> dict[str, str]:
    """`source:token,source:token` → {token: source}. Source names label metrics and logs."""
    tokens: dict[str, str] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        source, sep, token = part.partition(":")
        if not sep or not source or len(token) < 16:
            raise ValueError("expected source:token pairs with tokens of at least 16 characters")
        tokens[token] = source
    return tokens


def token_source(authorization: str | None, tokens: Mapping[str, str]) -> str | None:
    """The source a `Bearer` (or Basic, password = token) Authorization header belongs to."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            credential = base64.b64decode(credential, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    elif scheme.lower() != "bearer":
        return None
    found = None
    for token, source in tokens.items():  # compare with every token: timing says nothing about which
        if hmac.compare_digest(token.encode(), credential.strip().encode()):
            found = source
    return found


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
