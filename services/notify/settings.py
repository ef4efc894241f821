"""Settings of the notify service (`HEATDESK_NOTIFY_*` and the shared ones)."""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting


@dataclasses.dataclass(frozen=True)
class NotifySettings(ServiceSettings):
    notify_port: int = setting(8083, "Port of /metrics and probes")
    notify_group_id: str = setting("heatdesk-notify", "Consumer group of notify")
    notify_scan_interval_s: float = setting(0.5, "How often the timer scanner looks for due timers")
    notify_scan_batch: int = setting(200, "Due timers claimed per scanner transaction")
    notify_webhook_url: str = setting("", "Slack-compatible webhook that receives SLA alerts (empty: none)")
    notify_webhook_timeout_s: float = setting(5.0, "Timeout of one webhook call")
    notify_max_attempts: int = setting(8, "Delivery attempts before a notification is marked failed")
    notify_lease_s: float = setting(30.0, "How long a replica owns a notification it is delivering")
