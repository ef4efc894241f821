"""Masking personal data - payment card numbers, email addresses, phone numbers - in free text.

Customers paste their card number into a tweet, their email address into a DM, their
phone number into a review. The raw payload stays in PostgreSQL (route's `mentions.raw`,
emptied by the retention job); what leaves for the department topics and what is written
to the logs is masked, unless a deployment allows a kind (`HEATDESK_PII_ALLOW=email,phone`,
e.g. for a department that calls customers back):

- card numbers: 13-19 digits, optionally grouped by spaces or dashes, that pass the Luhn
  check (order and tracking numbers of the same length almost never do) become
  `[card ending 1111]` (PCI DSS allows the last four digits to be shown);
- email addresses become `[email]`;
- phone numbers - international (`+44 20 7946 0958`, `0044 …`), North American
  (`(555) 123-4567`, `555-123-4567`) and national with a trunk 0 (`020 7946 0958`), 8 to
  15 digits - become `[phone]`. A bare run of digits is not taken for a phone number:
  order numbers are bare runs of digits, and an agent needs them.
- links keep their site and path but lose their query and fragment
  (`https://airline.example/manage?pnr=ABC123&last=Smith` becomes
  `https://airline.example/manage?[masked]`): a booking or password-reset link carries
  the booking code, the surname or a token there.

Masking is deterministic and idempotent (a masked text masks to itself).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Mapping
from typing import Any

from services.common.errors import ConfigError

KINDS = ("card", "email", "phone", "link")
ENV = "HEATDESK_PII_ALLOW"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+|00)\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,5}(?![\w])"  # +44 20 7946 0958
    r"|(?<![\w(])\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?![\w])"  # (555) 123-4567
    r"|(?<![\w.-])\d{3}[.-]\d{3}[.-]\d{4}(?![\w-])"  # 555-123-4567, 555.123.4567
    r"|(?<![\w.-])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?![\w-])")  # 020 7946 0958, 0171-234-5678

_LINK = re.compile(r"(https?://[^\s?#]+)[?#][^\s]*", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
#: A masked phone number has at least 8 digits, a card 13; a text with fewer has neither.
_FEWEST_DIGITS = 8


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return f"[card ending {digits[-4:]}]"
    return match.group()


def _link(match: re.Match[str]) -> str:
    rest = match.group()[len(match.group(1)):]
    return match.group() if rest in ("?[masked]",) else f"{match.group(1)}?[masked]"


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return "[phone]" if 8 <= digits <= 15 else match.group()


def _may_hold_email(text: str) -> bool:
    """Whether some `@` follows a character an address's local part can end with.

    Every post that names an account has an `@`, and the address pattern then tries a match
    at every word character (3 us a tweet); a handle (`@united`, after a space) is ruled out
    by looking at one character.
    """
    at = text.find("@")
    while at != -1:
        if at > 0 and (text[at - 1].isalnum() or text[at - 1] in "_.+%-"):
            return True
        at = text.find("@", at + 1)
    return False


def mask(text: str, allow: Collection[str] = ()) -> str:
    """`text` with the kinds of personal data not in `allow` masked."""
    if not text:
        return text
    if "link" not in allow and "://" in text:
        text = _LINK.sub(_link, text)
    if "email" not in allow and _may_hold_email(text):
        text = _EMAIL.sub("[email]", text)
    if len(_DIGIT.findall(text)) < _FEWEST_DIGITS:
        return text  # most posts: neither pattern can mask anything, and they cost 8 us a post
    if "card" not in allow:
        text = _CARD.sub(_card, text)
    if "phone" not in allow:
        text = _PHONE.sub(_phone, text)
    return text


def mask_value(value: Any, allow: Collection[str] = ()) -> Any:
    """Mask every string inside a JSON-like value (dicts, lists); keys are left alone."""
    if isinstance(value, str):
        return mask(value, allow)
    if isinstance(value, Mapping):
        return {k: mask_value(v, allow) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, allow) for v in value]
    return value


def parse_allow(raw: str | Collection[str]) -> frozenset[str]:
    """`card,email,phone,link` (any of them, comma-separated) → the kinds left unmasked."""
    kinds = [k.strip().lower() for k in (raw.split(",") if isinstance(raw, str) else raw) if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"{ENV}: unknown kinds {unknown}; use any of {', '.join(KINDS)}")
    return frozenset(kinds)


_allowed: frozenset[str] | None = None


def allowed() -> frozenset[str]:
    """The kinds this process leaves unmasked: `HEATDESK_PII_ALLOW` (or `…_FILE`), read once."""
    global _allowed
    if _allowed is None:
        raw = os.environ.get(ENV)
        if raw is None and os.environ.get(ENV + "_FILE"):
            from services.common.settings import _read_secret_file

            raw = _read_secret_file(ENV, os.environ[ENV + "_FILE"])
        _allowed = parse_allow(raw or "")
    return _allowed


def configure(allow: Collection[str] | None) -> None:
    """Set the kinds left unmasked (None: read the environment again on next use)."""
    global _allowed
    _allowed = None if allow is None else parse_allow(allow)


#: Attributes every LogRecord has; the others are the `extra` fields of a log call.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class PiiLogFilter(logging.Filter):
    """Masks personal data in a log record: the message, its arguments, extra fields, the traceback.

    Attached to the handler, so it applies to every logger (ours, aiokafka's, aiohttp's).
    """

    def __init__(self, allow: Collection[str] | None = None) -> None:
        super().__init__()
        self.allow = allow

    def filter(self, record: logging.LogRecord) -> bool:
        allow = allowed() if self.allow is None else self.allow
        if len(allow) == len(KINDS):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as it is
            message = str(record.msg)
        record.msg, record.args = mask(message, allow), ()
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_") and isinstance(value, (str, Mapping, list, tuple)):
                setattr(record, key, mask_value(value, allow))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, allow)
        return True

