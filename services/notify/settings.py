"""Settings of the notify service (`HEATDESK_NOTIFY_*`, `HEATDESK_SLA_*` and the shared ones)."""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting


@dataclasses.dataclass(frozen=True)
class NotifySettings(ServiceSettings):
    notify_port: int = setting(8083, "Port of /metrics and probes")
    notify_group_id: str = setting("heatdesk-notify", "Consumer group of notify")
    notify_scan_interval_s: float = setting(0.5, "How often the timer scanner looks for due timers")
    notify_scan_batch: int = setting(200, "Due timers claimed per scanner transaction")
    notify_clock: str = setting("wall", "SLA clock: wall (live) or event (replays: the slowest partition's newest "
                                        "event time is now)")
    notify_stale_after_s: float = setting(86400.0, "A step or crisis window older than this when it fires is published "
                                                   "but pages nobody (first deployment, long outage); 0: always page")
    notify_measure_settle_s: float = setting(60.0, "What a stopped SLA clock measured waits this long before it is "
                                             "counted in the histograms, so that a late earlier reply can correct it")
    notify_watermark_idle_s: float = setting(30.0, "Event clock: a partition silent this long no longer holds it back")
    sla_policies_path: str = setting("", "SLA policies YAML (empty: the shipped policies); reloaded when it changes")
    sla_policies_reload_s: float = setting(5.0, "How often the SLA policies file is checked for changes")
    sla_first_response_targets: dict = setting({}, "First-response targets in seconds per priority, e.g. "
                                                   "critical=900,high=3600 (override the default policy)")
    notify_webhook_url: str = setting("", "Slack-compatible webhook that receives SLA alerts (empty: none)")
    notify_webhook_secret: str = setting("", "HMAC-SHA256 key of the X-Heatdesk-Signature header (empty: unsigned)")
    notify_webhook_format: str = setting("slack", "Webhook body: slack (text + heatdesk object) or json (the alert)")
    notify_webhook_timeout_s: float = setting(5.0, "Timeout of one webhook call")
    notify_smtp_host: str = setting("", "SMTP server for email:… targets (empty: no email)")
    notify_smtp_port: int = setting(25, "SMTP port (587 with STARTTLS, 465 implicit TLS)")
    notify_smtp_starttls: bool = setting(False, "Upgrade the SMTP connection with STARTTLS")
    notify_smtp_ssl: bool = setting(False, "Implicit TLS (SMTPS, port 465)")
    notify_smtp_username: str = setting("", "SMTP user name (empty: no AUTH)")
    notify_smtp_password: str = setting("", "SMTP password (mount it from a Secret: HEATDESK_NOTIFY_SMTP_PASSWORD_FILE)")
    notify_smtp_from: str = setting("heatdesk@localhost", "From address of alert emails")
    notify_smtp_timeout_s: float = setting(10.0, "Timeout of one SMTP conversation")
    notify_max_attempts: int = setting(8, "Delivery attempts before a notification is marked failed")
    notify_lease_s: float = setting(30.0, "How long a replica owns a notification it is delivering")
    notify_rate_limit: int = setting(60, "Notifications per target per rate window (0: unlimited)")
    notify_rate_window_s: float = setting(60.0, "Window of the per-target rate limit")
    notify_gauges_interval_s: float = setting(15.0, "How often response rate, open clocks and failed deliveries are "
                                                    "recomputed, and open cases' departments get breach counters")
    notify_crisis: bool = setting(True, "Detect negative-mention spikes on mentions.classified.v1")
    notify_crisis_window_s: float = setting(900.0, "Crisis window: negative mentions counted over this long (whole minutes)")
    notify_crisis_baseline_s: float = setting(86400.0, "Baseline: the window's usual count over this much history")
    notify_crisis_multiple: float = setting(3.0, "A window is a crisis at this multiple of its baseline")
    notify_crisis_min_count: int = setting(20, "…and at least this many negative mentions")
    notify_crisis_cooldown_s: float = setting(3600.0, "An episode ends after this long without a hot window")
    notify_crisis_notify: tuple[str, ...] = setting(("pr",), "Roles (policy recipients) paged for a crisis")
