"""Slack-compatible webhook sender.

The body is a Slack incoming-webhook message (`text`, `blocks`-free for compatibility
with Mattermost, Rocket.Chat and Teams' Slack mode) plus a `heatdesk` object with the
full alert for machines. Each call carries `Idempotency-Key` so a receiver can drop the
rare redelivery after a crash between its 2xx and our bookkeeping.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from services.common.errors import HeatdeskError


class DeliveryFailed(HeatdeskError):
    """The receiver refused or did not answer; delivery is retried with backoff."""

    retriable = True


def render_text(alert: dict[str, Any]) -> str:
    return (f":rotating_light: SLA {alert['threshold']} - {alert['timer'].replace('_', ' ')} for a "
            f"{alert['priority']} {alert['department']} case on {alert['channel']} "
            f"(due {alert['due_at']}, case {alert['case_id']})")


class WebhookSender:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, idempotency_key: str, alert: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        body = {"text": render_text(alert), "heatdesk": alert}
        try:
            async with self._session.post(self.url, json=body, headers={"Idempotency-Key": idempotency_key}) as resp:
                if resp.status >= 300:
                    raise DeliveryFailed(f"webhook answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"webhook unreachable: {exc!r}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
