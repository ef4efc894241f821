"""Stopped clocks' measurements settle before the histograms count them (pure, fake time)."""

from __future__ import annotations

from services.common.metrics import Metrics
from services.notify.settling import SettlingMeasurements

LABELS = ("billing", "x", "high")
KEY = ("case-1", "first_response", 0)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_correction_while_settling_replaces_the_measurement():
    metrics, now = Metrics("notify"), [100.0]
    held = SettlingMeasurements(metrics, 30.0, now=lambda: now[0])
    held.add(KEY, LABELS, "first_response", "breached", 9000.0, corrects=False)
    assert held.flush() == 0 and sample(metrics, "heatdesk_first_response_seconds_count",
                                        department="billing", channel="x", priority="high") in (None, 0.0)
    held.add(KEY, LABELS, "first_response", "met", 600.0, corrects=True)
    now[0] += 30.0
    assert held.flush() == 1
    assert sample(metrics, "heatdesk_first_response_seconds_sum", department="billing", channel="x",
                  priority="high") == 600.0
    assert sample(metrics, "heatdesk_sla_clocks_ended_total", department="billing", priority="high",
                  kind="first_response", outcome="met") == 1.0
    assert sample(metrics, "heatdesk_sla_clocks_ended_total", department="billing", priority="high",
                  kind="first_response", outcome="breached") is None
    assert sample(metrics, "heatdesk_sla_corrections_total", kind="first_response", when="settling") == 1.0


def test_a_correction_after_settling_is_counted_not_observed_twice():
    metrics, now = Metrics("notify"), [0.0]
    held = SettlingMeasurements(metrics, 5.0, now=lambda: now[0])
    held.add(KEY, LABELS, "first_response", "met", 1200.0, corrects=False)
    now[0] = 10.0
    held.flush()
    held.add(KEY, LABELS, "first_response", "met", 60.0, corrects=True)
    held.flush()
    assert sample(metrics, "heatdesk_first_response_seconds_count", department="billing", channel="x",
                  priority="high") == 1.0
    assert sample(metrics, "heatdesk_sla_corrections_total", kind="first_response", when="late") == 1.0


def test_no_settling_time_counts_at_once():
    metrics = Metrics("notify")
    held = SettlingMeasurements(metrics, 0.0)
    held.add(KEY, LABELS, "next_response", "met", 30.0, corrects=False)
    assert sample(metrics, "heatdesk_next_response_seconds_count", department="billing", channel="x",
                  priority="high") == 1.0
