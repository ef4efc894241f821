"""The generic JSON mention (`POST /v1/mentions`): validation and normalisation.

Pure functions: no broker, no HTTP, so every rule is unit-tested. Validation collects
every field error at once (an integrator fixes all in one round trip) and reports
them as RFC 9457 `errors` entries with a JSON pointer each.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from services.common.channels import CHANNELS
from services.common.errors import InvalidInput
from services.common.ids import mention_id
from services.common.timeutil import format_rfc3339, parse_rfc3339

MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256


def _normalise_text(value: str) -> str:
    """NFC so that the same words compare equal whatever the client's encoding habits."""
    return unicodedata.normalize("NFC", value).strip()


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, pointer: str, detail: str) -> None:
        self.items.append({"pointer": pointer, "detail": detail})


def _string(body: dict[str, Any], name: str, errors: _Errors, *, required: bool, pointer: str,
            max_len: int = MAX_ID_CHARS) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            errors.add(pointer, "is required")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # platform ids are often numbers in JSON
    if not isinstance(value, str):
        errors.add(pointer, "must be a string")
        return None
    value = _normalise_text(value)
    if required and not value:
        errors.add(pointer, "must not be empty")
        return None
    if len(value) > max_len:
        errors.add(pointer, f"must be at most {max_len} characters")
        return None
    return value or None


def parse_generic_mention(body: Any, received_at: datetime) -> dict[str, Any]:
    """Validate a generic mention body and return the canonical v1 Mention.

    Raises InvalidInput listing every problem found.
    """
    if not isinstance(body, dict):
        raise InvalidInput("Body must be a JSON object", [{"pointer": "", "detail": "expected an object"}])
    errors = _Errors()
    channel = _string(body, "channel", errors, required=True, pointer="/channel")
    if channel is not None and channel not in CHANNELS:
        errors.add("/channel", f"unknown channel; one of {', '.join(CHANNELS)}")
        channel = None
    external_id = _string(body, "external_id", errors, required=True, pointer="/external_id")
    text = _string(body, "text", errors, required=True, pointer="/text", max_len=MAX_TEXT_CHARS)
    conversation_id = _string(body, "conversation_id", errors, required=False, pointer="/conversation_id")
    in_reply_to = _string(body, "in_reply_to", errors, required=False, pointer="/in_reply_to")
    url = _string(body, "url", errors, required=False, pointer="/url", max_len=2048)
    language = _string(body, "language", errors, required=False, pointer="/language", max_len=35)

    created_at: datetime | None = None
    raw_created = body.get("created_at")
    if raw_created is None:
        errors.add("/created_at", "is required")
    else:
        try:
            created_at = parse_rfc3339(raw_created)
        except (ValueError, TypeError) as exc:
            errors.add("/created_at", f"must be an RFC 3339 timestamp: {exc}")

    author = body.get("author")
    author_out: dict[str, Any] | None = None
    if not isinstance(author, dict):
        errors.add("/author", "is required and must be an object")
    else:
        author_id = _string(author, "id", errors, required=True, pointer="/author/id")
        handle = _string(author, "handle", errors, required=False, pointer="/author/handle")
        name = _string(author, "name", errors, required=False, pointer="/author/name")
        followers = author.get("followers", 0)
        if followers is None:
            followers = 0
        if isinstance(followers, bool) or not isinstance(followers, int) or followers < 0:
            errors.add("/author/followers", "must be a non-negative integer")
            followers = 0
        verified = author.get("verified", False)
        if verified is None:
            verified = False
        if not isinstance(verified, bool):
            errors.add("/author/verified", "must be true or false")
            verified = False
        if author_id is not None:
            author_out = {"id": author_id, "handle": handle, "name": name,
                          "followers": followers, "verified": verified}

    if errors.items:
        raise InvalidInput("The mention is not valid", errors.items)
    assert channel and external_id and text and created_at and author_out
    return {
        "id": mention_id(channel, external_id),
        "channel": channel,
        "external_id": external_id,
        "conversation_id": conversation_id,
        "in_reply_to": in_reply_to,
        "author": author_out,
        "text": text,
        "language": language,
        "created_at": format_rfc3339(created_at),
        "received_at": format_rfc3339(received_at),
        "url": url,
        "raw": body,
    }
