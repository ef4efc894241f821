"""Where notifications go: a target string names a sender.

`webhook` is the configured webhook (HEATDESK_NOTIFY_WEBHOOK_URL), `webhook:https://…` any
other webhook (signed with the same secret), `email:someone@example.com` a mailbox reached
through the configured SMTP server. Unknown or unconfigured targets have no sender: their
notifications fail after the retries and show up as undeliverable.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.notify.senders.email import EmailSender, Mailbox
from services.notify.senders.webhook import WebhookSender
from services.notify.settings import NotifySettings


class Sender(Protocol):
    kind: str

    async def send(self, idempotency_key: str, alert: dict[str, Any]) -> None: ...


def target_kind(target: str) -> str:
    """The metric label of a target: its kind, never the address."""
    kind = target.split(":", 1)[0]
    return kind if kind in ("webhook", "email") else "other"


class Senders:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._cache: dict[str, Sender] = {}
        self.smtp = (EmailSender(settings.notify_smtp_host, settings.notify_smtp_port, settings.notify_smtp_from,
                                 timeout_s=settings.notify_smtp_timeout_s, starttls=settings.notify_smtp_starttls,
                                 use_ssl=settings.notify_smtp_ssl, username=settings.notify_smtp_username,
                                 password=settings.notify_smtp_password)
                     if settings.notify_smtp_host else None)

    @property
    def any_configured(self) -> bool:
        return bool(self.settings.notify_webhook_url or self.smtp)

    def _webhook(self, url: str) -> WebhookSender:
        s = self.settings
        return WebhookSender(url, s.notify_webhook_timeout_s, s.notify_webhook_secret, s.notify_webhook_format)

    def get(self, target: str) -> Sender | None:
        if target in self._cache:
            return self._cache[target]
        sender: Sender | None = None
        if target == "webhook" and self.settings.notify_webhook_url:
            sender = self._webhook(self.settings.notify_webhook_url)
        elif target.startswith("webhook:") and target[8:].startswith(("http://", "https://")):
            sender = self._webhook(target[8:])
        elif target.startswith("email:") and self.smtp is not None:
            sender = Mailbox(self.smtp, target[6:])
        if sender is not None:
            self._cache[target] = sender
        return sender

    async def close(self) -> None:
        for sender in self._cache.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()
        self._cache.clear()
