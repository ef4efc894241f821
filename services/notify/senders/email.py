"""SMTP email sender: the standard library's smtplib, run in a worker thread.

aiosmtplib is not a dependency of the project, and an alert email is a rare, small,
latency-tolerant send: `asyncio.to_thread` around smtplib keeps the event loop free
without another package. Each message carries a Message-ID derived from the notification's
dedupe key, so a mail system (or a person's filter) can recognise the rare redelivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import orjson

from services.notify.senders.webhook import DeliveryFailed, render_text

#: SMTP reply codes that will not change on retry (bad mailbox, bad syntax, policy refusal).
PERMANENT_CODES = range(500, 600)


def subject_of(alert: dict[str, Any]) -> str:
    if alert.get("category") == "crisis":
        return f"[Heatdesk] Crisis: {alert['count']} negative mentions of {alert['scope']} {alert['key']}"
    return (f"[Heatdesk] SLA {alert['threshold']}: {alert['timer'].replace('_', ' ')}, {alert['priority']} "
            f"{alert['department']} case on {alert['channel']}")


def build_message(sender: str, recipient: str, idempotency_key: str, alert: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject_of(alert)
    msg["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "heatdesk.local"
    msg["Message-ID"] = f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"
    msg["X-Heatdesk-Idempotency-Key"] = idempotency_key
    msg.set_content(render_text(alert, markup="plain") + "\n\n" + orjson.dumps(alert, option=orjson.OPT_INDENT_2).decode() + "\n")
    return msg


class EmailSender:
    kind = "email"

    def __init__(self, host: str, port: int, sender: str, *, timeout_s: float = 10.0, starttls: bool = False,
                 use_ssl: bool = False, username: str = "", password: str = "") -> None:
        self.host, self.port, self.sender = host, port, sender
        self.timeout_s, self.starttls, self.use_ssl = timeout_s, starttls, use_ssl
        self.username, self.password = username, password

    def _send_blocking(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = (smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
                              if self.use_ssl else smtplib.SMTP(self.host, self.port, timeout=self.timeout_s))
        with smtp:
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)

    async def send_to(self, recipient: str, idempotency_key: str, alert: dict[str, Any]) -> None:
        msg = build_message(self.sender, recipient, idempotency_key, alert)
        try:
            await asyncio.to_thread(self._send_blocking, msg)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"SMTP answered {exc.smtp_code}: {exc.smtp_error!r}",
                                 permanent=exc.smtp_code in PERMANENT_CODES) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryFailed(f"SMTP refused the recipient: {exc.recipients!r}",
                                 permanent=all(c in PERMANENT_CODES for c in codes)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP unreachable: {exc!r}") from exc


class Mailbox:
    """An `email:ADDRESS` target: the shared SMTP sender bound to one recipient."""

    kind = "email"

    def __init__(self, smtp: EmailSender, recipient: str) -> None:
        self.smtp = smtp
        self.recipient = recipient

    async def send(self, idempotency_key: str, alert: dict[str, Any]) -> None:
        await self.smtp.send_to(self.recipient, idempotency_key, alert)
