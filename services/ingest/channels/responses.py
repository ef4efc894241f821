"""`POST /v1/responses`: agent replies and resolutions from a helpdesk or CRM.

The caller names what is answered by any of: the case id, the customer post it replies to
(`in_reply_to` external id), the conversation, or the customer's id on the channel; route
matches in that order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.common.channels import CHANNELS
from services.common.errors import InvalidInput
from services.ingest.channels.common import build_response
from services.ingest.normalise import MAX_TEXT_CHARS, FieldErrors

RESPONSE_KINDS = ("reply", "resolution", "reopen")


def parse_response(body: Any, received_at: datetime) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("Body must be a JSON object", [{"pointer": "", "detail": "expected an object"}])
    errors = FieldErrors()
    channel = errors.string(body, "channel", required=True, pointer="/channel")
    if channel is not None and channel not in CHANNELS:
        errors.add("/channel", f"unknown channel; one of {', '.join(CHANNELS)}")
    external_id = errors.string(body, "external_id", required=True, pointer="/external_id")
    kind = errors.string(body, "kind", required=False, pointer="/kind") or "reply"
    if kind not in RESPONSE_KINDS:
        errors.add("/kind", f"one of {', '.join(RESPONSE_KINDS)}")
    case_id = errors.string(body, "case_id", required=False, pointer="/case_id")
    if case_id is not None:
        try:
            case_id = str(uuid.UUID(case_id))
        except ValueError:
            errors.add("/case_id", "must be a UUID")
    refs = {name: errors.string(body, name, required=False, pointer=f"/{name}")
            for name in ("in_reply_to", "conversation_id", "customer_id")}
    if not case_id and not any(refs.values()):
        errors.add("", "name what is answered: case_id, in_reply_to, conversation_id or customer_id")
    text = errors.string(body, "text", required=False, pointer="/text", max_len=MAX_TEXT_CHARS)
    created_at = errors.timestamp(body, "created_at", pointer="/created_at")
    automated = errors.flag(body, "automated", pointer="/automated")
    public = body.get("public", True)
    if not isinstance(public, bool):
        errors.add("/public", "must be true or false")
    author = body.get("author")
    author_id = None
    if not isinstance(author, dict):
        errors.add("/author", "is required and must be an object")
        author = {}
    else:
        author_id = errors.string(author, "id", required=True, pointer="/author/id")
        errors.string(author, "name", required=False, pointer="/author/name")
    errors.raise_if_any("The response is not valid")
    assert channel and external_id and created_at and author_id
    return build_response(
        channel=channel, external_id=external_id, kind=kind, case_id=case_id, author={**author, "id": author_id},
        created_at=created_at, received_at=received_at, raw=body, text=text, automated=automated,
        public=bool(public), source="api", **refs)
