"""Normalisation to the canonical v1 Mention, and field validation shared by every channel.

Every channel parser ends in `build_mention`, so all channels produce the same shape with
the same rules: NFC text without control characters, RFC 3339 UTC times, a deterministic
id from (channel, external id), the detected language when the source gives none, and
the original payload kept as it came.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.common.channels import CHANNELS
from services.common.errors import InvalidInput
from services.common.ids import mention_id
from services.common.language import detect_language
from services.common.timeutil import format_rfc3339, parse_rfc3339

MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256
KINDS = ("post", "comment", "reply", "direct_message", "email", "review", "transcript", "chat")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A hashtag or a handle in running text: not inside a word or an email address ("a@b.com").
_HASHTAG = re.compile(r"(?<![\w&#/])#(\w*[^\W\d]\w*)")
_HANDLE = re.compile(r"(?<![\w@.])@(\w{1,50})")
MAX_TAGS = 50


def _unique(values: Iterable[str], sigil: str) -> list[str]:
    """Each tag once, in order of appearance, without its sigil; case kept, duplicates by case."""
    seen: dict[str, str] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        tag = normalise_text(value).lstrip(sigil) if sigil else normalise_text(value)
        if tag and tag.lower() not in seen and len(tag) <= 140:
            seen[tag.lower()] = tag
    return list(seen.values())[:MAX_TAGS]


def normalise_text(value: str) -> str:
    """NFC, no control characters, trimmed: the same words compare equal whatever the client did.

    Printable ASCII (most ids, handles and many posts) is already NFC and holds no control
    character, so it is only trimmed: a parse normalises about ten fields a post.
    """
    if value.isascii() and value.isprintable():
        return value.strip()
    return _CONTROL.sub("", unicodedata.normalize("NFC", value)).strip()


class FieldErrors:
    """Collects every field error of a payload, each with its RFC 6901 JSON pointer."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, pointer: str, detail: str) -> None:
        self.items.append({"pointer": pointer, "detail": detail})

    def raise_if_any(self, title: str) -> None:
        if self.items:
            raise InvalidInput(title, self.items)

    def string(self, body: dict[str, Any], name: str, *, required: bool, pointer: str,
               max_len: int = MAX_ID_CHARS) -> str | None:
        value = body.get(name)
        if value is None:
            if required:
                self.add(pointer, "is required")
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # platform ids are often numbers in JSON
        if not isinstance(value, str):
            self.add(pointer, "must be a string")
            return None
        value = normalise_text(value)
        if required and not value:
            self.add(pointer, "must not be empty")
            return None
        if len(value) > max_len:
            self.add(pointer, f"must be at most {max_len} characters")
            return None
        return value or None

    def count(self, body: dict[str, Any], name: str, *, pointer: str) -> int:
        value = body.get(name, 0)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.add(pointer, "must be a non-negative integer")
            return 0
        return value

    def flag(self, body: dict[str, Any], name: str, *, pointer: str) -> bool:
        value = body.get(name, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.add(pointer, "must be true or false")
            return False
        return value

    def timestamp(self, body: dict[str, Any], name: str, *, pointer: str, required: bool = True) -> datetime | None:
        raw = body.get(name)
        if raw is None:
            if required:
                self.add(pointer, "is required")
            return None
        try:
            return parse_rfc3339(raw)
        except (ValueError, TypeError) as exc:
            self.add(pointer, f"must be an RFC 3339 timestamp: {exc}")
            return None


def author(id: str, handle: str | None = None, name: str | None = None, followers: int | None = None,
           verified: bool = False) -> dict[str, Any]:
    """The canonical author. `followers=None`: the platform sent no count (Meta never does).

    Unknown is not zero: a rule "followers under 100" must not fire for a Facebook page with a
    million fans. v1 keeps `followers` an integer (subscribers parse it as one), so unknown is
    written `followers: 0, followers_known: false`; readers that care (route's rule facts)
    turn that back into "unknown".
    """
    known = followers is not None
    return {"id": normalise_text(str(id)), "handle": normalise_text(handle) if handle else None,
            "name": normalise_text(name) if name else None, "followers": max(0, int(followers or 0)),
            "followers_known": known, "verified": bool(verified)}


def build_mention(*, channel: str, external_id: str, author: dict[str, Any], text: str, created_at: datetime,
                  received_at: datetime, raw: Any, conversation_id: str | None = None,
                  in_reply_to: str | None = None, url: str | None = None, language: str | None = None,
                  kind: str = "post", subject: str | None = None,
                  metrics: dict[str, int] | None = None, hashtags: Iterable[str] | None = None,
                  mentioned_accounts: Iterable[str] | None = None,
                  stream_tags: Iterable[str] | None = None) -> dict[str, Any]:
    """The canonical v1 Mention. Raises InvalidInput when the parsed fields break its rules.

    `hashtags` and `mentioned_accounts` come from the payload's own entities when it has them
    (X); otherwise they are read from the text (`#word`, `@handle`), so every channel fills
    them. `stream_tags` are the tags of the source's matching rules (X filtered stream).
    """
    errors = FieldErrors()
    if channel not in CHANNELS:
        errors.add("/channel", f"unknown channel; one of {', '.join(CHANNELS)}")
    text = normalise_text(text or "")
    if not text:
        errors.add("/text", "must not be empty")
    elif len(text) > MAX_TEXT_CHARS:
        errors.add("/text", f"must be at most {MAX_TEXT_CHARS} characters")
    external_id = normalise_text(str(external_id or ""))
    if not external_id or len(external_id) > MAX_ID_CHARS:
        errors.add("/external_id", f"must be 1 to {MAX_ID_CHARS} characters")
    if not author.get("id"):
        errors.add("/author/id", "is required")
    errors.raise_if_any("The mention is not valid")
    mention: dict[str, Any] = {
        "id": mention_id(channel, external_id),
        "channel": channel,
        "external_id": external_id,
        "conversation_id": conversation_id,
        "in_reply_to": in_reply_to,
        "author": author,
        "text": text,
        "language": language or detect_language(text),
        "created_at": format_rfc3339(created_at),
        "received_at": format_rfc3339(received_at),
        "url": url,
        "kind": kind if kind in KINDS else "post",
        "raw": raw,
    }
    if subject:
        mention["subject"] = normalise_text(subject)
    mention["hashtags"] = _unique(hashtags if hashtags is not None else _HASHTAG.findall(text), "#")
    mention["mentioned_accounts"] = _unique(mentioned_accounts if mentioned_accounts is not None
                                            else _HANDLE.findall(text), "@")
    mention["stream_tags"] = _unique(stream_tags or (), "")
    if metrics:
        mention["metrics"] = {k: int(v) for k, v in metrics.items() if isinstance(v, int) and v >= 0}
    return mention
