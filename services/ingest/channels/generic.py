"""The generic JSON mention (`POST /v1/mentions`): reviews, blogs, forums, transcripts, anything.

Pure functions, so every rule is unit-tested. Validation collects every field error at
once (an integrator fixes all in one round trip) and reports them as RFC 9457 `errors`
entries with a JSON pointer each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.channels import CHANNELS
from services.common.errors import InvalidInput
from services.ingest.normalise import KINDS, MAX_TEXT_CHARS, FieldErrors, build_mention
from services.ingest.normalise import author as make_author


def parse_generic_mention(body: Any, received_at: datetime) -> dict[str, Any]:
    """Validate a generic mention body and return the canonical v1 Mention.

    Raises InvalidInput listing every problem found.
    """
    if not isinstance(body, dict):
        raise InvalidInput("Body must be a JSON object", [{"pointer": "", "detail": "expected an object"}])
    errors = FieldErrors()
    channel = errors.string(body, "channel", required=True, pointer="/channel")
    if channel is not None and channel not in CHANNELS:
        errors.add("/channel", f"unknown channel; one of {', '.join(CHANNELS)}")
        channel = None
    external_id = errors.string(body, "external_id", required=True, pointer="/external_id")
    text = errors.string(body, "text", required=True, pointer="/text", max_len=MAX_TEXT_CHARS)
    conversation_id = errors.string(body, "conversation_id", required=False, pointer="/conversation_id")
    in_reply_to = errors.string(body, "in_reply_to", required=False, pointer="/in_reply_to")
    url = errors.string(body, "url", required=False, pointer="/url", max_len=2048)
    language = errors.string(body, "language", required=False, pointer="/language", max_len=35)
    kind = errors.string(body, "kind", required=False, pointer="/kind", max_len=32) or "post"
    if kind not in KINDS:
        errors.add("/kind", f"one of {', '.join(KINDS)}")
    created_at = errors.timestamp(body, "created_at", pointer="/created_at")
    author = body.get("author")
    author_out: dict[str, Any] | None = None
    if not isinstance(author, dict):
        errors.add("/author", "is required and must be an object")
    else:
        author_id = errors.string(author, "id", required=True, pointer="/author/id")
        handle = errors.string(author, "handle", required=False, pointer="/author/handle")
        name = errors.string(author, "name", required=False, pointer="/author/name")
        followers = (errors.count(author, "followers", pointer="/author/followers")
                     if author.get("followers") is not None else None)  # not sent: unknown, not zero
        verified = errors.flag(author, "verified", pointer="/author/verified")
        if author_id is not None:
            author_out = make_author(author_id, handle, name, followers, verified)
    tags = {name: _names(body, name, errors) for name in ("hashtags", "mentioned_accounts", "stream_tags")}
    errors.raise_if_any("The mention is not valid")
    assert channel and external_id and text and created_at and author_out
    return build_mention(channel=channel, external_id=external_id, author=author_out, text=text,
                         created_at=created_at, received_at=received_at, raw=body, conversation_id=conversation_id,
                         in_reply_to=in_reply_to, url=url, language=language, kind=kind, **tags)


def _names(body: dict[str, Any], name: str, errors: FieldErrors) -> list[str] | None:
    """An optional list of short strings (hashtags, handles, tags); None when not sent."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 140 for v in value):
        errors.add(f"/{name}", "must be a list of strings of 1 to 140 characters")
        return None
    return value
