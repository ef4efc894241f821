"""Email: inbound-parse webhooks (Mailgun, SendGrid, Postmark) and raw RFC 822 messages.

Threading follows the headers mail clients maintain: the conversation is the first
Message-ID of `References` (the thread root), else `In-Reply-To`, else the message itself;
`in_reply_to` is the parent. The text classified is the new reply without quoted history
and signature; the original body stays in `raw`.
"""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

import orjson

from services.common.errors import InvalidInput
from services.ingest.channels.common import BrandAccounts, Parsed, build_response, shape_errors_are_invalid_input
from services.ingest.channels.email_text import strip_reply
from services.ingest.normalise import author as make_author
from services.ingest.normalise import build_mention

CHANNEL = "email"
MAX_RAW_TEXT = 100_000


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def _references(value: str | None) -> list[str]:
    return [_msgid(v) or v for v in (value or "").split() if v.strip()]


def _date(value: str | None, fallback: datetime) -> datetime:
    if not value:
        return fallback
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return fallback
    return parsed if parsed.tzinfo else fallback


def email_message(*, sender: str, subject: str | None, body: str, message_id: str | None, in_reply_to: str | None,
                  references: list[str], date: datetime, received_at: datetime, raw: Any,
                  brands: BrandAccounts, stripped: str | None = None) -> Parsed:
    name, address = parseaddr(sender)
    if not address or "@" not in address:
        raise InvalidInput("The sender is not an email address", [{"pointer": "/from", "detail": repr(sender)[:200]}])
    address = address.lower()
    if not message_id:
        raise InvalidInput("The message has no Message-ID", [{"pointer": "/Message-Id", "detail": "is required"}])
    text = stripped.strip() if stripped and stripped.strip() else strip_reply(body)
    conversation = references[0] if references else (in_reply_to or message_id)
    author = make_author(address, address, name or None)
    out = Parsed()
    if brands.is_brand(CHANNEL, address, address.split("@", 1)[1] if "@" in address else None):
        out.responses.append(build_response(
            channel=CHANNEL, external_id=message_id, author=author, created_at=date, received_at=received_at,
            raw=raw, text=text, in_reply_to=in_reply_to, conversation_id=conversation, public=False))
        return out
    if not text and subject:
        text = subject
    out.mentions.append(build_mention(
        channel=CHANNEL, external_id=message_id, author=author, text=text, created_at=date, received_at=received_at,
        raw=raw, conversation_id=conversation, in_reply_to=in_reply_to, kind="email", subject=subject))
    return out


@shape_errors_are_invalid_input("email")
def parse_rfc822(data: bytes, received_at: datetime, brands: BrandAccounts) -> Parsed:
    """A raw message (`Content-Type: message/rfc822`)."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
    except Exception as exc:  # noqa: BLE001 - the parser raises many kinds on hostile input
        raise InvalidInput("Not an RFC 822 message", [{"pointer": "", "detail": str(exc)[:200]}]) from exc
    if not msg.get("From"):
        raise InvalidInput("Not an RFC 822 message", [{"pointer": "/From", "detail": "is required"}])
    body_part = msg.get_body(preferencelist=("plain", "html"))
    try:
        body = body_part.get_content() if body_part is not None else ""
    except (LookupError, ValueError):
        body = body_part.get_payload(decode=True).decode("utf-8", "replace") if body_part is not None else ""
    if body_part is not None and body_part.get_content_type() == "text/html":
        body = _html_to_text(body)
    headers = {k: str(v) for k, v in msg.items() if k.lower() in (
        "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references")}
    return email_message(
        sender=str(msg.get("From")), subject=str(msg.get("Subject") or "") or None, body=body,
        message_id=_msgid(str(msg.get("Message-ID") or "")), in_reply_to=_msgid(str(msg.get("In-Reply-To") or "")),
        references=_references(str(msg.get("References") or "")), date=_date(str(msg.get("Date") or ""), received_at),
        received_at=received_at, raw={"headers": headers, "body": body[:MAX_RAW_TEXT]}, brands=brands)


def _headers_block(block: str) -> dict[str, str]:
    msg = email.message_from_string(block + "\n\n", policy=email.policy.default)
    return {k.lower(): str(v) for k, v in msg.items()}


@shape_errors_are_invalid_input("email")
def parse_inbound_form(fields: dict[str, str], received_at: datetime, brands: BrandAccounts) -> Parsed:
    """Mailgun (`body-plain`, `stripped-text`, `Message-Id`) or SendGrid (`text`, `headers`) form posts."""
    headers: dict[str, str] = {}
    if fields.get("headers"):  # SendGrid: the raw header block
        headers = _headers_block(fields["headers"])
    if fields.get("message-headers"):  # Mailgun: JSON list of [name, value]
        try:
            headers.update({str(k).lower(): str(v) for k, v in orjson.loads(fields["message-headers"])})
        except (orjson.JSONDecodeError, ValueError, TypeError):
            pass
    get = lambda *names: next((fields[n] for n in names if fields.get(n)), None) or next(  # noqa: E731
        (headers[n.lower()] for n in names if headers.get(n.lower())), None)
    sender = get("from", "From", "sender")
    if not sender:
        raise InvalidInput("The form has no sender", [{"pointer": "/from", "detail": "is required"}])
    body = get("body-plain", "text") or (_html_to_text(fields["html"]) if fields.get("html") else "")
    raw = {k: (v[:MAX_RAW_TEXT] if isinstance(v, str) else v) for k, v in fields.items()
           if k not in ("attachment-count",) and not k.startswith("attachment")}
    return email_message(
        sender=sender, subject=get("subject", "Subject"), body=body,
        message_id=_msgid(get("Message-Id", "message-id", "Message-ID")),
        in_reply_to=_msgid(get("In-Reply-To", "in-reply-to")), references=_references(get("References", "references")),
        date=_date(get("Date", "date"), received_at), received_at=received_at, raw=raw, brands=brands,
        stripped=fields.get("stripped-text"))


@shape_errors_are_invalid_input("email")
def parse_postmark(payload: Any, received_at: datetime, brands: BrandAccounts) -> Parsed:
    """Postmark's inbound JSON (`FromFull`, `TextBody`, `StrippedTextReply`, `Headers`)."""
    if not isinstance(payload, dict) or "From" not in payload:
        raise InvalidInput("Not an inbound email", [{"pointer": "/From", "detail": "is required"}])
    headers = {str(h.get("Name", "")).lower(): str(h.get("Value", "")) for h in payload.get("Headers") or []
               if isinstance(h, dict)}
    full = payload.get("FromFull") or {}
    sender = f"{full.get('Name', '')} <{full['Email']}>" if full.get("Email") else str(payload["From"])
    return email_message(
        sender=sender, subject=payload.get("Subject"), body=payload.get("TextBody") or "",
        message_id=_msgid(headers.get("message-id") or payload.get("MessageID")),
        in_reply_to=_msgid(headers.get("in-reply-to")), references=_references(headers.get("references")),
        date=_date(payload.get("Date"), received_at), received_at=received_at,
        raw={k: v for k, v in payload.items() if k != "Attachments"}, brands=brands,
        stripped=payload.get("StrippedTextReply"))


def _html_to_text(html: str) -> str:
    """Crude but dependency-free: tags out, block ends to newlines, entities decoded."""
    import html as html_lib
    import re

    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return html_lib.unescape(re.sub(r"[ \t]+", " ", text)).strip()

