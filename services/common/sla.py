"""First-response SLA targets by priority: the deadline stamped on a new case.

The walking skeleton's policy is one table of targets in seconds per priority bucket,
set by `HEATDESK_SLA_FIRST_RESPONSE_TARGETS` (for example `critical=900,high=3600`).
Deadlines run on event time: the customer's `created_at` plus the target, so a replay
yields the same deadline as live traffic did.

Superseded by `services.common.slapolicy` (policies per priority, department, channel and
tags on business-hours calendars): `load_policies(path).resolve(name, priority, department,
channel, tags).due("first_response", created_at)`. These functions stay until route has
switched; with the shipped policies the default policy gives the same deadlines (24/7, the
same targets) and `HEATDESK_SLA_FIRST_RESPONSE_TARGETS` overrides it the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from services.common.errors import ConfigError

PRIORITIES = ("critical", "high", "normal", "low")
DEFAULT_FIRST_RESPONSE_TARGETS = {"critical": 900.0, "high": 3600.0, "normal": 4 * 3600.0, "low": 24 * 3600.0}
DEFAULT_POLICY = "default"


def validate_targets(targets: Mapping[str, float]) -> dict[str, float]:
    unknown = set(targets) - set(PRIORITIES)
    if unknown:
        raise ConfigError(f"SLA targets name unknown priorities {sorted(unknown)}; use {PRIORITIES}")
    merged = {**DEFAULT_FIRST_RESPONSE_TARGETS, **targets}
    bad = {k: v for k, v in merged.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise ConfigError(f"SLA targets must be positive, finite seconds: {bad}")
    return merged


def first_response_due(created_at: datetime, priority: str, targets: Mapping[str, float]) -> datetime:
    return created_at + timedelta(seconds=targets[priority])
