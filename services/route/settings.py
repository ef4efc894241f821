"""Settings of the route service (`HEATDESK_ROUTE_*`, `HEATDESK_SLA_*` and the shared ones)."""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting
from services.common.sla import DEFAULT_FIRST_RESPONSE_TARGETS


@dataclasses.dataclass(frozen=True)
class RouteSettings(ServiceSettings):
    route_port: int = setting(8082, "Port of the case API, /metrics and probes")
    route_group_id: str = setting("heatdesk-route", "Consumer group of route")
    route_thread_window_s: float = setting(72 * 3600.0, "A customer's new mention joins their open case if within this window")
    sla_first_response_targets: dict = setting(DEFAULT_FIRST_RESPONSE_TARGETS,
                                               "First-response targets in seconds per priority, e.g. critical=900,high=3600")
    route_open_cases_refresh_s: float = setting(15.0, "How often the open-cases gauge is recomputed")
