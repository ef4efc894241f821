"""Helpers of the deploy checks: real tools (kubectl, promtool, prometheus), the rendered
overlays, validation of custom resources against the CRD schemas kept in deploy/crds/, and
PromQL metric-name extraction.

The tools are installed by `make check-deploy` (Debian packages); a test that needs one
fails, never skips, when it is missing, and says so.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
CRDS = DEPLOY / "crds"
PROMETHEUS_RULE = DEPLOY / "prometheus" / "prometheusrule.yaml"
PROMTOOL_TESTS = DEPLOY / "prometheus" / "tests"
DASHBOARD = DEPLOY / "grafana" / "heatdesk.json"
README = ROOT / "README.md"
DOCS = ROOT / "docs"
KUBERNETES_VERSION = "1.30.0"


def require_binary(name: str) -> str:
    """Absolute path of `name`; fail (not skip) with the fix when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed: run `make check-deploy` (it installs kubectl, promtool and "
                    f"prometheus when they are missing)", pytrace=False)
    return path


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """Every resource `kubectl kustomize` renders for an overlay, in order."""
    kubectl = require_binary("kubectl")
    proc = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {overlay} failed:\n{proc.stderr}"
    docs = tuple(d for d in yaml.safe_load_all(proc.stdout) if d)
    assert docs, f"overlay {overlay} renders nothing"
    return docs


def resource_id(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata", {})
    return f"{doc.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def of_kind(docs: tuple[dict[str, Any], ...], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in kinds]


def one(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


# --- custom resources against their CRD's openAPIV3Schema ----------------------------------

def _python_pattern(pattern: str) -> str:
    """Kubernetes patterns are Go RE2: inline flags may follow `^`; Python wants them first."""
    match = re.match(r"^\^(\(\?[a-zA-Z]+\))", pattern)
    return match.group(1) + "^" + pattern[len(match.group(0)):] if match else pattern


def structural_to_jsonschema(node: Any) -> Any:
    """A CRD's structural schema as a JSON Schema that rejects unknown fields.

    The API server prunes (or, with strict field validation - kubectl's default since 1.27 -
    rejects) fields a structural schema does not declare, unless the node says
    `x-kubernetes-preserve-unknown-fields`. `additionalProperties: false` says the same to
    jsonschema, so a misspelt field fails here as it would fail at `kubectl apply`.
    """
    if isinstance(node, list):
        return [structural_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: structural_to_jsonschema(value) for key, value in node.items()
           if key not in ("description", "default") and not key.startswith("x-kubernetes-")}
    if "pattern" in out:
        out["pattern"] = _python_pattern(out["pattern"])
    if node.get("nullable"):
        out.pop("nullable")
        out["type"] = [node["type"], "null"]
    if (node.get("type") == "object" and "properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], Draft7Validator]:
    """(apiVersion, kind) -> validator, for every served version of every CRD in deploy/crds/."""
    validators: dict[tuple[str, str], Draft7Validator] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        assert crd["kind"] == "CustomResourceDefinition", path
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = structural_to_jsonschema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            Draft7Validator.check_schema(schema)
            validators[(f"{group}/{version['name']}", kind)] = Draft7Validator(schema)
    return validators


def crd_errors(doc: dict[str, Any]) -> list[str]:
    """Why `doc` would be refused by its CRD (empty: valid). KeyError if no CRD is kept for it."""
    validator = crd_schemas()[(doc["apiVersion"], doc["kind"])]
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))]


# --- PromQL ---------------------------------------------------------------------------------

_PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                    "offset", "bool", "inf", "nan"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (function names, labels, keywords excluded)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = _GROUPING.sub(" ", text)  # grouping label lists
    names = set()
    for match in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def exported_names(exposition: str) -> set[str]:
    """Sample names a /metrics text exposition declares in its HELP/TYPE lines.

    A histogram `x` is queried as x_bucket, x_count and x_sum; a summary as x, x_count and
    x_sum; counters and gauges by their own name (prometheus_client's `_created` too).
    """
    types: dict[str, str] = {}
    helps: set[str] = set()
    for line in exposition.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) >= 4 and parts[:2] == ["#", "TYPE"]:
            types[parts[2]] = parts[3].strip()
        elif len(parts) >= 3 and parts[:2] == ["#", "HELP"]:
            helps.add(parts[2])
    names: set[str] = set()
    for family, kind in types.items():
        if family not in helps:
            continue
        if kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_count", f"{family}_sum", f"{family}_created"}
        elif kind == "summary":
            names |= {family, f"{family}_count", f"{family}_sum", f"{family}_created"}
        elif kind == "counter":
            names |= {family, f"{family.removesuffix('_total')}_created"}
        else:
            names.add(family)
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable of a Grafana dashboard.

    A `label_values(metric, label)` variable is Grafana's, not PromQL: it becomes
    `count by (label) (metric)`, the query Grafana's series lookup amounts to.
    """
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} target {target['refId']}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)", query)
        assert match, f"variable {variable['name']}: unsupported query {query!r}"
        yield f"variable {variable['name']}", f"count by ({match.group(2)}) ({match.group(1)})"


def substitute_grafana_variables(expr: str) -> str:
    """What Grafana sends for the dashboard's variables with "All" selected."""
    out = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
    out = re.sub(r"\$\{?(namespace|department)\}?", ".*", out)
    assert "$" not in out, f"unsubstituted Grafana variable in {expr!r}"
    return out


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_groups() -> list[dict[str, Any]]:
    return load_yaml(PROMETHEUS_RULE)["spec"]["groups"]


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def write_rules_file(directory: Path, groups: list[dict[str, Any]] | None = None) -> Path:
    """`.spec` of the PrometheusRule as a plain Prometheus rule file in `directory`."""
    path = directory / "heatdesk.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups if groups is not None else rule_groups()}, sort_keys=False))
    return path


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def doc_page(path: str) -> str:
    """The text of a page of the manual (docs/`path`)."""
    page = DOCS / path
    assert page.is_file(), f"docs/{path} is missing"
    return page.read_text()


def readme_section(title: str) -> str:
    """The text of README.md's `## title` section, up to the next `## ` heading."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no `## {title}` section"
    return match.group(1)
