"""Webhook sender: Slack-compatible body or plain JSON, signed with HMAC-SHA256.

The `slack` body is an incoming-webhook message (`text`, no `blocks`, so Mattermost,
Rocket.Chat and Teams' Slack mode accept it too) plus a `heatdesk` object with the full
alert for machines; `json` posts the alert itself. Every call carries `Idempotency-Key`
(the notification's dedupe key) so a receiver can drop the rare redelivery after a crash
between its 2xx and our bookkeeping.

Signature: `X-Heatdesk-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>` with
`X-Heatdesk-Timestamp: <unix seconds>`; the receiver recomputes it over the raw body and
rejects stale timestamps, so a captured request cannot be replayed later (the scheme of
Stripe and Slack request signing).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import aiohttp
import orjson

from services.common.errors import HeatdeskError

SIGNATURE_HEADER = "X-Heatdesk-Signature"
TIMESTAMP_HEADER = "X-Heatdesk-Timestamp"
#: Answers that say "this request will never succeed": stop retrying, dead-letter it.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 413, 422})


class DeliveryFailed(HeatdeskError):
    """The receiver refused or did not answer; delivery is retried with backoff unless permanent."""

    retriable = True

    def __init__(self, message: str, *, permanent: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s
        if permanent:
            self.retriable = False


_EMOJI = {"warning": ":warning:", "rule": ":hourglass:", "autoclose": ":hourglass:"}


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities, so quoted text cannot ping or disguise a link.

    In a Slack (or Mattermost) message `<!channel>` notifies everyone and `<url|label>`
    shows `label` for any `url`: customers' words must never be read as such markup.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_text(alert: dict[str, Any], *, markup: str = "slack") -> str:
    """One line an agent can act on; crisis alerts and SLA steps alike.

    `markup="slack"` escapes everything that came from outside (the quoted mention, the
    keys it was counted under); `"plain"` (an email body) leaves the text as written.
    """
    quote = slack_escape if markup == "slack" else str
    if alert.get("category") == "crisis":
        excerpt = alert["examples"][0]["excerpt"] if alert.get("examples") else ""
        return (f":fire: Crisis - {alert['count']} negative mentions of {quote(str(alert['scope']))} "
                f"{quote(str(alert['key']))} in {round(alert['window_s'] / 60)} min "
                f"(usual {alert['baseline']:.1f}); e.g. \"{quote(str(excerpt))}\"")
    emoji = _EMOJI.get(alert.get("level", ""), ":rotating_light:")
    return (f"{emoji} SLA {alert['threshold']} - {alert['timer'].replace('_', ' ')} for a "
            f"{alert['priority']} {alert['department']} case on {alert['channel']} "
            f"(due {alert['due_at']}, case {alert['case_id']})")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None,
           tolerance_s: float = 300.0) -> bool:
    """What a receiver does: recompute the signature and refuse stale timestamps."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), headers.get(SIGNATURE_HEADER, ""))


def body_of(alert: dict[str, Any], body_format: str) -> bytes:
    if body_format == "json":
        return orjson.dumps({**alert, "text": render_text(alert)})
    return orjson.dumps({"text": render_text(alert), "heatdesk": alert})


class WebhookSender:
    kind = "webhook"

    def __init__(self, url: str, timeout_s: float, secret: str = "", body_format: str = "slack") -> None:
        self.url = url
        self.secret = secret
        self.body_format = body_format
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, idempotency_key: str, alert: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        body = body_of(alert, self.body_format)
        headers = {"Idempotency-Key": idempotency_key, "Content-Type": "application/json"}
        if self.secret:
            now = int(time.time())
            headers[TIMESTAMP_HEADER] = str(now)
            headers[SIGNATURE_HEADER] = sign(self.secret, now, body)
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                if resp.status < 300:
                    return
                retry_after = resp.headers.get("Retry-After", "")
                raise DeliveryFailed(f"webhook answered {resp.status}", permanent=resp.status in PERMANENT_STATUSES,
                                     retry_after_s=float(retry_after) if retry_after.isdigit() else None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"webhook unreachable: {exc!r}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
