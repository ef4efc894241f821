"""notify logs each fired SLA step at a standard level with its kind in the `event` field."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from services.common.metrics import Metrics
from services.notify.app import NotifyService
from services.notify.timers import FiredStep

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
STANDARD = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


@pytest.mark.parametrize(("kind", "level"), [("warning", "INFO"), ("rule", "INFO"), ("breach", "WARNING"),
                                             ("escalation", "WARNING"), ("autoclose", "INFO")])
def test_a_fired_step_is_logged_at_a_standard_level_with_its_kind_as_event(caplog, kind: str, level: str):
    step = FiredStep("c-1", "first_response", 0, kind, kind, "billing", "high", "x", "default", AT, AT, AT,
                     action="autoclose" if kind == "autoclose" else None)
    fake = SimpleNamespace(metrics=Metrics("notify", CollectorRegistry()))
    with caplog.at_level(logging.INFO, logger="services.notify.app"):
        NotifyService._count(fake, step)  # type: ignore[arg-type]
    (record,) = [r for r in caplog.records if r.getMessage() == "sla step fired"]
    assert record.levelname == level and record.levelname in STANDARD
    assert record.event == kind
    assert not hasattr(record, "level")
