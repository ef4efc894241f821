"""A real Prometheus server scrapes the four running services; the dashboard and the alert
rules are checked against it.

Prometheus (Debian's 2.42, installed by `make check-deploy`) runs on a free loopback port
with its data in a temporary directory, scrapes each service every second under the job
name the ServiceMonitors give it (heatdesk-<service>), and loads the PrometheusRule's
rules. Mentions are posted to ingest in two waves (a series' first sample is not an
increase, so rate() needs a second one), then the HTTP API is asked for the histograms.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.embedded import free_port
from tests.deploy.support import (
    DASHBOARD,
    dashboard_queries,
    exported_names,
    metric_names,
    require_binary,
    substitute_grafana_variables,
    write_rules_file,
)
from tests.e2e.conftest import SERVICES, Stack
from tests.support import mention_body

pytestmark = pytest.mark.e2e

COMPLAINT = "@acme you charged me twice this month, refund me or I'm telling everyone"
PIPELINE_P95 = ('histogram_quantile(0.95, sum by (le, stage) '
                '(rate(heatdesk_pipeline_latency_seconds_bucket[1m])))')
FIRST_RESPONSE_P90 = ('histogram_quantile(0.9, sum by (le, department) '
                      '(rate(heatdesk_first_response_seconds_bucket[5m])))')


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: str) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:  # 400/422: the API explains in its JSON body
            return json.load(exc)

    def query(self, promql: str) -> dict[str, Any]:
        return self.get("/api/v1/query", query=promql)

    def logs(self) -> str:
        return self.log.read_text()[-4000:]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = require_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    write_rules_file(workdir)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["heatdesk.rules.yaml"],
        "scrape_configs": [{"job_name": f"heatdesk-{name}",
                            "static_configs": [{"targets": [f"127.0.0.1:{stack.ports[name]}"]}]}
                           for name in SERVICES],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = workdir / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        def ready() -> bool:
            assert process.poll() is None, f"prometheus exited with {process.returncode}:\n{server.logs()}"
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_until(ready, 30, "prometheus to be ready")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def scraped_up(prometheus: Prometheus) -> dict[str, str] | None:
    """{job: up} once every service has been scraped at least once, else None."""
    result = prometheus.query('up{job=~"heatdesk-.*"}')["data"]["result"]
    jobs = {r["metric"]["job"]: r["value"][1] for r in result}
    return jobs if set(jobs) == {f"heatdesk-{name}" for name in SERVICES} else None


@pytest.fixture(scope="module")
def traffic(stack: Stack, prometheus: Prometheus) -> None:
    """Two waves of complaints through the pipeline, each scraped by Prometheus at every stage."""
    def post(wave: int) -> None:
        for i in range(3):
            body = json.dumps(mention_body(f"prom-{wave}-{i}", COMPLAINT, author_id=f"prom-{wave}-{i}")).encode()
            request = urllib.request.Request(stack.url("ingest", "/v1/mentions"), data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.status == 202

    def stage_counts() -> dict[str, float]:
        result = prometheus.query("sum by (stage) (heatdesk_pipeline_latency_seconds_count)")["data"]["result"]
        return {r["metric"]["stage"]: float(r["value"][1]) for r in result}

    wait_until(lambda: scraped_up(prometheus), 20, "a first scrape of every service")
    for wave in (1, 2):
        post(wave)
        wait_until(lambda w=wave: (counts := stage_counts()) and all(counts.get(stage, 0) >= 3 * w for stage in
                                                                     ("ingest", "classify", "route")),
                   60, f"Prometheus to scrape wave {wave} at every stage\n{stack.logs()}")


def exposition(stack: Stack, service: str) -> str:
    with urllib.request.urlopen(stack.url(service, "/metrics"), timeout=5) as resp:
        return resp.read().decode()


def test_prometheus_scrapes_every_service(prometheus: Prometheus):
    jobs = wait_until(lambda: scraped_up(prometheus), 20, "a first scrape of every service")
    assert jobs == {f"heatdesk-{name}": "1" for name in SERVICES}


def test_pipeline_latency_percentiles_have_samples_for_every_stage(prometheus: Prometheus, traffic: None):
    answer = prometheus.query(PIPELINE_P95)
    assert answer["status"] == "success", answer
    values = {r["metric"]["stage"]: float(r["value"][1]) for r in answer["data"]["result"]}
    assert set(values) == {"ingest", "classify", "route"}, answer
    for stage, seconds in values.items():
        assert math.isfinite(seconds) and 0 < seconds <= 60, f"p95 of {stage}: {seconds}"


def test_first_response_histogram_is_exported_and_queryable(stack: Stack, prometheus: Prometheus, traffic: None):
    answer = prometheus.query(FIRST_RESPONSE_P90)
    assert answer["status"] == "success", answer
    assert answer["data"]["resultType"] == "vector"
    # Samples arrive with the first brand responses; the family is declared from the start.
    expositions = [exposition(stack, name) for name in SERVICES]
    assert any("# HELP heatdesk_first_response_seconds " in text
               and "# TYPE heatdesk_first_response_seconds histogram" in text for text in expositions)


def test_every_dashboard_query_runs_and_names_only_exported_metrics(stack: Stack, prometheus: Prometheus,
                                                                    traffic: None):
    exported = set().union(*(exported_names(exposition(stack, name)) for name in SERVICES))
    dashboard = json.loads(DASHBOARD.read_text())
    queries = list(dashboard_queries(dashboard))
    assert len(queries) >= 20
    answers = {}
    for where, expr in queries:
        used = metric_names(expr)
        assert used, f"{where}: no metric in {expr!r}"
        assert used <= exported, f"{where}: {sorted(used - exported)} are not exported by any service"
        answer = prometheus.query(substitute_grafana_variables(expr))
        assert answer["status"] == "success", f"{where}: {answer.get('errorType')}: {answer.get('error')}"
        answers[where] = answer["data"]["result"]
    # After the traffic, the pipeline panels show it.
    for title in ("Throughput per stage", "Pipeline latency (receipt to end of stage)", "Consumer lag"):
        assert any(result for where, result in answers.items() if f"{title!r}" in where), f"{title} shows nothing"


def test_the_alert_rules_evaluate_on_real_series(prometheus: Prometheus, traffic: None):
    def evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule["health"] != "unknown" for rule in rules) else None

    rules = wait_until(evaluated, 20, "every rule to be evaluated")
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken, broken
    firing = {a["labels"]["alertname"] for a in prometheus.get("/api/v1/alerts")["data"]["alerts"]}
    assert "HeatdeskServiceDown" not in firing and "HeatdeskInstanceDown" not in firing
