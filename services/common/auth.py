"""Bearer tokens: which caller (source, or department scope) a request belongs to.

Shared by ingest (one token per posting source) and route's case API (one token per
department scope). Tokens are compared in constant time against every configured token,
so neither timing nor the order of the list tells an attacker anything.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping


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
