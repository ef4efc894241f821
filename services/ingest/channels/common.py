"""What a channel parser returns, and the brand-account check every channel shares."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from services.common.errors import InvalidInput
from services.common.ids import mention_id
from services.common.timeutil import format_rfc3339
from services.ingest.graph import DeadLetter, MentionReference
from services.ingest.normalise import normalise_text


@dataclasses.dataclass(frozen=True)
class Parsed:
    """Mentions and responses found in one payload, what was skipped on purpose (and why),
    posts known only by reference (fetched before publishing) and what must be dead-lettered."""

    mentions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    responses: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)
    references: list[MentionReference] = dataclasses.field(default_factory=list)
    letters: list[DeadLetter] = dataclasses.field(default_factory=list)


class BrandAccounts:
    """The company's own accounts per channel (`x:AcmeHelp,x:783214,facebook:1061…,email:care@acme.com`).

    A post by one of them that answers a customer is a response, not a mention: it stops
    SLA clocks instead of opening cases. Matching is case-insensitive on ids and handles.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self._by_channel: dict[str, set[str]] = {}
        for entry in entries:
            channel, sep, account = entry.partition(":")
            if sep and account:
                self._by_channel.setdefault(channel.strip(), set()).add(account.strip().lower().lstrip("@"))

    def is_brand(self, channel: str, *identities: str | None) -> bool:
        accounts = self._by_channel.get(channel, set())
        return any(i is not None and str(i).lower().lstrip("@") in accounts for i in identities)


def shape_errors_are_invalid_input(channel: str):  # noqa: ANN201 - a decorator
    """Turn a payload of the wrong shape (a list where an object belongs…) into a 422, not a 500.

    The parsers check the fields they read; this is the net under them, so that whatever a
    platform (or an attacker) sends, the answer is a precise 4xx and never a crash.
    """

    def wrap(parse):  # noqa: ANN001, ANN202
        @functools.wraps(parse)
        def parse_checked(payload, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            try:
                return parse(payload, *args, **kwargs)
            except (AttributeError, TypeError, KeyError, ValueError, OverflowError) as exc:
                raise InvalidInput(f"Not a valid {channel} payload",
                                   [{"pointer": "", "detail": f"{type(exc).__name__}: {exc}"[:300]}]) from exc

        return parse_checked

    return wrap


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def build_response(*, channel: str, external_id: str, author: dict[str, Any], created_at: datetime,
                   received_at: datetime, raw: Any, kind: str = "reply", text: str | None = None,
                   in_reply_to: str | None = None, conversation_id: str | None = None,
                   customer_id: str | None = None, case_id: str | None = None, automated: bool = False,
                   public: bool = True, source: str = "channel") -> dict[str, Any]:
    """The canonical v1 Response (schema `response.recorded.v1`)."""
    return {
        "id": mention_id(channel, external_id),
        "kind": kind,
        "channel": channel,
        "external_id": normalise_text(str(external_id)),
        "case_id": case_id,
        "in_reply_to": in_reply_to,
        "conversation_id": conversation_id,
        "customer_id": customer_id,
        "author": {"id": str(author.get("id")), "name": author.get("name"), "handle": author.get("handle")},
        "automated": automated,
        "public": public,
        "text": normalise_text(text) if text else None,
        "created_at": format_rfc3339(created_at),
        "received_at": format_rfc3339(received_at),
        "source": source,
        "raw": raw,
    }
