"""The alert rules: `promtool check rules`, `promtool test rules` (deploy/prometheus/tests/),
one runbook section per alert (docs/operations/runbooks.md), and only metrics the services export.

promtool reads `.spec` of deploy/prometheus/prometheusrule.yaml, written as a plain rule
file next to copies of the unit-test files (which name it `heatdesk.rules.yaml`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from services.common.metrics import Metrics
from tests.deploy.support import (
    PROMTOOL_TESTS,
    alerts,
    doc_page,
    exported_names,
    github_anchor,
    metric_names,
    require_binary,
    rule_groups,
    write_rules_file,
)

RUNBOOK_BASE = "https://github.com/heatdesk/heatdesk/blob/main/docs/operations/runbooks.md#"
RUNBOOKS = "operations/runbooks.md"
TEST_FILES = sorted(PROMTOOL_TESTS.glob("*.test.yaml"))


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def stage(directory: Path, groups: list[dict] | None = None) -> list[str]:
    write_rules_file(directory, groups)
    for test_file in TEST_FILES:
        shutil.copy(test_file, directory / test_file.name)
    return [t.name for t in TEST_FILES]


def test_promtool_check_rules(tmp_path: Path):
    rules = write_rules_file(tmp_path)
    proc = promtool("check", "rules", str(rules), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in proc.stdout


def test_promtool_unit_tests_of_the_alerts_pass(tmp_path: Path):
    assert len(TEST_FILES) >= 2
    proc = promtool("test", "rules", *stage(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(TEST_FILES)


@pytest.mark.parametrize("alert", [a["alert"] for a in alerts()])
def test_every_alert_is_unit_tested(tmp_path: Path, alert: str):
    """Remove one alert from the rules: the unit tests that cover it must fail."""
    covering = [t for t in TEST_FILES if f"alertname: {alert}\n" in t.read_text()]
    assert covering, f"no promtool test names {alert}"
    groups = [{**g, "rules": [r for r in g["rules"] if r.get("alert") != alert]} for g in rule_groups()]
    stage(tmp_path, groups)
    proc = promtool("test", "rules", *[t.name for t in covering], cwd=tmp_path)
    assert proc.returncode != 0, f"the tests still pass without {alert}:\n{proc.stdout}"
    assert alert in proc.stdout + proc.stderr


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_every_alert_has_severity_summary_and_a_runbook_section(alert: dict):
    assert alert["labels"]["severity"] in ("critical", "warning")
    annotations = alert["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_BASE), url
    runbook = doc_page(RUNBOOKS)
    headings = re.findall(r"^## (.+)$", runbook, flags=re.M)
    assert alert["alert"] in headings, f"docs/{RUNBOOKS} has no `## {alert['alert']}`"
    assert url.removeprefix(RUNBOOK_BASE) == github_anchor(alert["alert"])
    section = runbook.split(f"## {alert['alert']}\n", 1)[1].split("\n## ", 1)[0]
    assert len(section.split()) >= 40, f"the runbook of {alert['alert']} says too little"


def test_the_runbooks_page_covers_exactly_the_alerts():
    headings = re.findall(r"^## (Heatdesk\w+)$", doc_page(RUNBOOKS), flags=re.M)
    assert sorted(headings) == sorted(a["alert"] for a in alerts())


def test_rules_use_only_metrics_the_services_export():
    exported = exported_names(generate_latest(Metrics("deploy-check").registry).decode()) | {"up"}
    for group in rule_groups():
        for rule in group["rules"]:
            used = metric_names(rule["expr"])
            assert used, rule
            assert used <= exported, f"{rule.get('alert')}: {used - exported} are not exported"


def test_metric_name_extraction():
    """The PromQL name extraction the rule and dashboard checks rely on."""
    expr = ('histogram_quantile(0.95, sum by (le, stage) (rate(heatdesk_pipeline_latency_seconds_bucket'
            '{namespace=~"$namespace", stage!="x"}[5m]))) / on (stage) group_left (le) '
            'clamp_min(sum without (instance) (increase(heatdesk_cases_opened_total[1h] offset 6h)), 1) '
            'or absent(up{job="heatdesk-ingest"}) and bool 0.5e3')
    assert metric_names(expr) == {"heatdesk_pipeline_latency_seconds_bucket", "heatdesk_cases_opened_total", "up"}
    exposition = ("# HELP a_seconds A\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"1\"} 0\n"
                  "# HELP b_total B\n# TYPE b_total counter\n# HELP c C\n# TYPE c gauge\n")
    assert exported_names(exposition) == {"a_seconds_bucket", "a_seconds_count", "a_seconds_sum",
                                          "a_seconds_created", "b_total", "b_created", "c"}
