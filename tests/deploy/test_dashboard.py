"""The Grafana dashboard, offline: well-formed, shows what SREs and ops asked for, and names
only metrics the services declare. (Every query also runs against a live Prometheus in
test_live_prometheus.py.)"""

from __future__ import annotations

import json
import re

from prometheus_client import generate_latest

from services.common.metrics import Metrics
from tests.deploy.support import DASHBOARD, dashboard_queries, exported_names, metric_names, substitute_grafana_variables

dashboard = json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_the_dashboard_is_well_formed():
    assert dashboard["uid"] == "heatdesk-overview" and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']!r} overlaps another"
                cells.add((x, y))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            substitute_grafana_variables(target["expr"])  # only the variables the dashboard defines


def test_the_dashboard_shows_what_was_asked_for():
    """Throughput per stage, pipeline latency percentiles, consumer lag, first-response latency
    percentiles per department, SLA breaches, response rate, open cases, dead letters."""
    queries = [expr for _, expr in dashboard_queries(dashboard)]

    def shown(pattern: str) -> bool:
        return any(re.search(pattern, expr) for expr in queries)

    assert shown(r"rate\(heatdesk_mentions_ingested_total") and shown(r"rate\(heatdesk_mentions_classified_total")
    assert shown(r"rate\(heatdesk_mentions_routed_total")
    assert shown(r"histogram_quantile\(0\.99, sum by \(le, stage\) \(rate\(heatdesk_pipeline_latency_seconds_bucket")
    assert shown(r"sum by \(group, topic\) \(heatdesk_consumer_lag")
    assert shown(r"histogram_quantile\(0\.9, sum by \(le, department\) \(rate\(heatdesk_first_response_seconds_bucket")
    assert shown(r"heatdesk_sla_breaches_total")
    assert shown(r"heatdesk_first_response_seconds_count.*/.*heatdesk_cases_opened_total")
    assert shown(r"max by \(department\) \(heatdesk_open_cases")
    assert shown(r"heatdesk_deadletter_total")


def test_the_dashboard_names_only_metrics_the_services_declare():
    declared = exported_names(generate_latest(Metrics("deploy-check").registry).decode())
    for where, expr in dashboard_queries(dashboard):
        used = metric_names(expr)
        assert used and used <= declared, f"{where}: {sorted(used - declared)}"
