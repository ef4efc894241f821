"""Settings of the route service (`HEATDESK_ROUTE_*`, `HEATDESK_SLA_*` and the shared ones)."""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting


@dataclasses.dataclass(frozen=True)
class RouteSettings(ServiceSettings):
    route_port: int = setting(8082, "Port of the case API, /metrics and probes")
    route_group_id: str = setting("heatdesk-route", "Consumer group of route")
    route_rules_path: str = setting("", "Routing rules YAML (empty: the shipped rules); reloaded when it changes")
    route_rules_reload_s: float = setting(5.0, "How often the rules file is checked for changes")
    route_thread_window_s: float = setting(
        72 * 3600.0, "A customer's new post joins their open case if within this window (0: by reply and conversation only)")
    route_reply_wait_s: float = setting(600.0, "A reply to a post not routed yet waits this long for it, then is "
                                        "matched by its conversation or customer")
    route_reopen: bool = setting(True, "A complaint soon after resolution reopens the case (false: opens a new one)")
    route_reopen_window_s: float = setting(7 * 24 * 3600.0, "How soon after resolution a complaint reopens the case")
    route_repeat_window_days: float = setting(30.0, "Window of the repeat-author counts (cases, complaints)")
    sla_policies_path: str = setting("", "SLA policies YAML (empty: the shipped policies); the same file as notify's")
    sla_policies_reload_s: float = setting(5.0, "How often the SLA policies file is checked for changes")
    sla_first_response_targets: dict = setting({}, "First-response targets in seconds per priority, e.g. "
                                                   "critical=900,high=3600: override the default policy's")
    route_api_tokens: str = setting("", "department:token pairs for the case API (`*` = every department); "
                                        "empty: the API is open - development only")
    route_playbook_path: str = setting("", "Reply playbook YAML (empty: the shipped playbook)")
    route_open_cases_refresh_s: float = setting(15.0, "How often the open-cases gauge is recomputed")
