"""Both Kustomize overlays render, and every rendered manifest is valid and coherent.

Validity: built-in kinds against the Kubernetes 1.30 OpenAPI schemas bundled with
kubernetes-validate (strict: unknown fields fail); custom resources (Strimzi, KEDA,
Prometheus Operator) against the openAPIV3Schema of their CRDs kept in deploy/crds/.
Coherence: what no schema knows - the ports, consumer groups, topics and settings the code
uses, selectors that select something, secrets only by reference, autoscaling within the
partition counts.
"""

from __future__ import annotations

import copy
import importlib
import re
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.classify.settings import ClassifySettings
from services.common import settings as loader
from services.common.topics import all_topics
from services.ingest.settings import IngestSettings
from services.notify.settings import NotifySettings
from services.route.settings import RouteSettings
from tests.deploy.support import (
    DEPLOY,
    KUBERNETES_VERSION,
    OVERLAYS,
    ROOT,
    crd_errors,
    crd_schemas,
    doc_page,
    of_kind,
    one,
    pod_spec,
    render,
    resource_id,
)

NAMESPACES = {"dev": "heatdesk-dev", "prod": "heatdesk"}
KAFKA_NAMESPACE = "kafka"
SERVICES = {
    # service: (settings class, consumer service class as "module:Class" or None, workload kind)
    "ingest": (IngestSettings, None, "Deployment"),
    "classify": (ClassifySettings, "services.classify.app:ClassifyService", "StatefulSet"),
    "route": (RouteSettings, "services.route.app:RouteService", "StatefulSet"),
    "notify": (NotifySettings, "services.notify.app:NotifyService", "StatefulSet"),
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
#: Variables the pods get that are not Heatdesk settings.
NOT_SETTINGS = {"POD_NAME", "SSL_CERT_FILE"}
#: The SLA-policies file's setting, named by the shipped default_policies.yaml; it arrives
#: with the policies feature, and once `heatdesk config` lists it this allowance is unused.
ANNOUNCED_SETTINGS = {"HEATDESK_SLA_POLICIES_PATH"}
#: The base's copy of a shipped file -> (the package's file, its ConfigMap, "module:loader" validating it).
SHIPPED_CONFIG = {
    "route-rules.yaml": ("services/route/config/rules.yaml", "heatdesk-route-rules",
                         "services.route.rules.load:load_rules"),
    "sla-policies.yaml": ("services/common/slapolicy/default_policies.yaml", "heatdesk-sla-policies",
                          "services.common.slapolicy.loader:load_policies"),
}
LOADERS = {configmap: loader for _, configmap, loader in SHIPPED_CONFIG.values()}
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|SIGNING_KEY|DATABASE_URL|WEBHOOK_URL")


def default(settings_cls: type, field: str) -> Any:
    return settings_cls.__dataclass_fields__[field].default


def consumed_topics(consumer: str) -> tuple[str, ...]:
    """The topics a consumer service subscribes to (imported here: the app pulls in spaCy)."""
    module, _, cls = consumer.partition(":")
    return getattr(importlib.import_module(module), cls).topics


def workloads(docs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return of_kind(docs, *WORKLOAD_KINDS)


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def env_map(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def configmap_data(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, str]:
    return one(docs, "ConfigMap", name)["data"]


def env_configmap_name(container: dict[str, Any]) -> str:
    (ref,) = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
    return ref


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def docs(overlay: str) -> tuple[dict[str, Any], ...]:
    return render(overlay)


def test_overlay_renders_every_part(docs):
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Deployment") == 1 and one(docs, "Deployment", "heatdesk-ingest")
    for name in ("classify", "route", "notify"):
        one(docs, "StatefulSet", f"heatdesk-{name}")
        one(docs, "ScaledObject", f"heatdesk-{name}")
    for name in SERVICES:
        one(docs, "Service", f"heatdesk-{name}")
        one(docs, "PodDisruptionBudget", f"heatdesk-{name}")
        one(docs, "ServiceMonitor", f"heatdesk-{name}")
    one(docs, "HorizontalPodAutoscaler", "heatdesk-ingest")
    one(docs, "Job", "heatdesk-migrate")
    one(docs, "PrometheusRule", "heatdesk")
    one(docs, "ConfigMap", "heatdesk-grafana-dashboard")
    one(docs, "ConfigMap", "heatdesk-route-rules")
    one(docs, "ConfigMap", "heatdesk-sla-policies")
    assert kinds.count("KafkaTopic") == len(all_topics())
    assert kinds.count("NetworkPolicy") >= 5
    assert kinds.count("Namespace") == 1


def test_builtin_kinds_validate_against_kubernetes_schemas(docs):
    custom = {api_kind for api_kind in crd_schemas()}
    checked, failures = 0, []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in custom:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked += 1
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            failures.append(f"{resource_id(doc)}: {getattr(exc, 'message', exc)}")
    assert not failures, "\n".join(failures)
    assert checked >= 20


def test_custom_resources_validate_against_their_crds(docs):
    custom = [d for d in docs if (d["apiVersion"], d["kind"]) in crd_schemas()]
    failures = [f"{resource_id(d)}: {e}" for d in custom for e in crd_errors(d)]
    assert not failures, "\n".join(failures)
    assert {d["kind"] for d in custom} >= {"KafkaTopic", "ScaledObject", "ServiceMonitor", "PrometheusRule"}


def test_every_rendered_resource_has_a_schema(docs):
    """Nothing slips through unvalidated: a kind is either built in or has its CRD kept here."""
    custom = set(crd_schemas())
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in custom:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # SchemaNotFoundError otherwise


def test_the_validators_reject_broken_manifests():
    """The two validators fail on the mistakes they exist for (so a green run means something)."""
    docs = render("prod")
    deployment = copy.deepcopy(one(docs, "Deployment", "heatdesk-ingest"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)

    scaled = copy.deepcopy(one(docs, "ScaledObject", "heatdesk-classify"))
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")  # the HPA's name, not KEDA's
    assert any("maxReplicas" in e for e in crd_errors(scaled))
    topic = copy.deepcopy(of_kind(docs, "KafkaTopic")[0])
    topic["spec"]["partitions"] = "12"
    assert crd_errors(topic)
    monitor = copy.deepcopy(one(docs, "ServiceMonitor", "heatdesk-route"))
    del monitor["spec"]["selector"]
    assert crd_errors(monitor)
    rule = copy.deepcopy(one(docs, "PrometheusRule", "heatdesk"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "3 minutes"
    assert crd_errors(rule)


def test_resources_live_in_the_overlay_namespace_and_topics_in_kafkas(overlay, docs):
    (namespace,) = of_kind(docs, "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACES[overlay]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] == "Namespace":
            continue
        expected = KAFKA_NAMESPACE if doc["kind"] == "KafkaTopic" else NAMESPACES[overlay]
        assert doc["metadata"].get("namespace") == expected, resource_id(doc)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"]), resource_id(doc)


def test_no_secret_is_inlined(docs):
    """Secrets are referenced, never rendered: no Secret objects, no secret-looking literal values."""
    assert not of_kind(docs, "Secret")
    documented = set(re.findall(r"`(heatdesk-[a-z-]+)`", doc_page("deploy/kubernetes.md")))
    referenced = set()
    for workload in workloads(docs):
        spec = pod_spec(workload)
        for container in spec["containers"]:
            for var in container.get("env", []):
                if "value" in var:
                    assert not SECRET_LOOKING.search(var["name"]), f"{resource_id(workload)} inlines {var['name']}"
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.add(ref["name"])
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, "whole Secrets as env hide which keys a pod reads"
        referenced |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    for auth in of_kind(docs, "TriggerAuthentication"):
        referenced |= {ref["name"] for ref in auth["spec"]["secretTargetRef"]}
    for configmap in of_kind(docs, "ConfigMap"):
        for key in configmap.get("data", {}):
            assert not SECRET_LOOKING.search(key), f"ConfigMap {configmap['metadata']['name']} holds {key}"
    assert referenced >= {"heatdesk-database", "heatdesk-kafka"}
    assert referenced <= documented, f"Secrets not documented in docs/deploy/kubernetes.md: {referenced - documented}"


def test_pods_are_hardened_and_sized(docs):
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    (image_user,) = re.findall(r"^USER (\d+)", dockerfile, flags=re.M)
    for workload in workloads(docs):
        spec = pod_spec(workload)
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == int(image_user), resource_id(workload)
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        mounts = set()
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                assert resources["requests"][resource] and resources["limits"][resource], resource_id(workload)
            mounts |= {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, "a read-only root file system needs a writable /tmp"


def test_each_service_runs_its_command_on_its_port_with_probes(docs):
    for name, (settings_cls, _, kind) in SERVICES.items():
        workload = one(docs, kind, f"heatdesk-{name}")
        (container,) = pod_spec(workload)["containers"]
        assert container["args"] == [name]
        port = default(settings_cls, f"{name}_port")
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        pod_name = env_map(container)["POD_NAME"]
        assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert "replicas" not in workload["spec"], f"{name}: the autoscaler owns the replica count"
        env = configmap_data(docs, env_configmap_name(container))
        grace = float(env["HEATDESK_SHUTDOWN_GRACE_SECONDS"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["sleep", "0"])
        assert grace + float(pre_stop[-1]) < pod_spec(workload)["terminationGracePeriodSeconds"]
    (migrate,) = pod_spec(one(docs, "Job", "heatdesk-migrate"))["containers"]
    assert migrate["args"] == ["migrate"]
    assert "secretKeyRef" in env_map(migrate)["DATABASE_URL"]["valueFrom"]


def test_static_membership_is_on_for_the_consumers(docs, monkeypatch):
    for name in ("classify", "route", "notify"):
        (container,) = pod_spec(one(docs, "StatefulSet", f"heatdesk-{name}"))["containers"]
        env = configmap_data(docs, env_configmap_name(container))
        monkeypatch.setenv("POD_NAME", f"heatdesk-{name}-0")  # what the downward API gives the pod
        settings = loader.load(SERVICES[name][0], env)
        assert settings.instance_id(name) == f"{name}-heatdesk-{name}-0"
        # A restarted member must rejoin before the coordinator gives its partitions away.
        assert settings.kafka_session_timeout_ms >= 30_000
        assert settings.kafka_heartbeat_interval_ms * 3 <= settings.kafka_session_timeout_ms


def test_environment_names_and_values_are_settings_the_code_reads(docs):
    """Every variable a pod gets is a setting of `heatdesk config` (or a documented extra),
    and the shared ConfigMap's values parse with the real settings loader."""
    listing = subprocess.run([sys.executable, "-m", "services.cli", "config"], capture_output=True, text=True,
                             check=True).stdout
    known = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", listing, flags=re.M))
    assert "KAFKA_BOOTSTRAP_SERVERS" in known and "DATABASE_URL" in known
    allowed = known | NOT_SETTINGS | ANNOUNCED_SETTINGS
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            names = set(env_map(container))
            for source in container.get("envFrom", []):
                names |= set(configmap_data(docs, source["configMapRef"]["name"]))
            assert names <= allowed, f"{resource_id(workload)}: unknown variables {names - allowed}"
    for name, (settings_cls, _, kind) in SERVICES.items():
        (container,) = pod_spec(one(docs, kind, f"heatdesk-{name}"))["containers"]
        env = {**configmap_data(docs, env_configmap_name(container)), "POD_NAME": "p-0"}
        env.update({k: "postgresql://u:p@db:5432/heatdesk" for k in env_map(container) if k == "DATABASE_URL"})
        loader.load(settings_cls, env)  # raises ConfigError on a malformed value


def test_rules_and_policies_are_mounted_where_the_settings_point(docs, tmp_path):
    mounts = (("heatdesk-route", "HEATDESK_ROUTE_RULES_PATH", "heatdesk-route-rules"),
              ("heatdesk-route", "HEATDESK_SLA_POLICIES_PATH", "heatdesk-sla-policies"),
              ("heatdesk-notify", "HEATDESK_SLA_POLICIES_PATH", "heatdesk-sla-policies"))
    for name, variable, configmap in mounts:
        spec = pod_spec(one(docs, "StatefulSet", name))
        (container,) = spec["containers"]
        path = env_map(container)[variable]["value"]
        assert path.startswith("/etc/heatdesk/")
        (volume,) = [v for v in spec["volumes"] if v.get("configMap", {}).get("name") == configmap]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
        assert mount["readOnly"] is True
        directory, _, filename = path.rpartition("/")
        assert mount["mountPath"] == directory
        # What the service will read there must pass its own loader (it refuses to start otherwise).
        content = configmap_data(docs, configmap)[filename]
        (tmp_path / filename).write_text(content)
        module, _, function = LOADERS[configmap].partition(":")
        getattr(importlib.import_module(module), function)(tmp_path / filename)


@pytest.mark.parametrize("filename", sorted(SHIPPED_CONFIG))
def test_the_base_deploys_the_shipped_rules_and_policies(filename: str):
    copy, shipped = DEPLOY / "k8s" / "base" / "config" / filename, SHIPPED_CONFIG[filename][0]
    assert yaml.safe_load(copy.read_text()) == yaml.safe_load((ROOT / shipped).read_text()), (
        f"{copy.relative_to(ROOT)} differs from the shipped {shipped}: keep the header comment and copy the rest "
        f"(the base deploys the shipped defaults; custom rules and policies belong in an overlay)")


def test_services_pdbs_and_monitors_select_the_pods(docs):
    pods = {component(w): w["spec"]["template"]["metadata"]["labels"] for w in workloads(docs)}
    for name, (settings_cls, _, kind) in SERVICES.items():
        service = one(docs, "Service", f"heatdesk-{name}")
        assert [c for c, labels in pods.items() if selects(service["spec"]["selector"], labels)] == [name]
        (port,) = service["spec"]["ports"]
        assert port["name"] == "http" and port["targetPort"] == "http"
        assert port["port"] == default(settings_cls, f"{name}_port")
        pdb = one(docs, "PodDisruptionBudget", f"heatdesk-{name}")
        assert [c for c, labels in pods.items() if selects(pdb["spec"]["selector"]["matchLabels"], labels)] == [name]
        assert pdb["spec"]["maxUnavailable"] == 1
        monitor = one(docs, "ServiceMonitor", f"heatdesk-{name}")
        matched = [s for s in of_kind(docs, "Service")
                   if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        assert [s["metadata"]["name"] for s in matched] == [f"heatdesk-{name}"]
        # The job label becomes the Service name: the alert rules and the dashboard use it.
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
        if kind == "StatefulSet":
            assert one(docs, kind, f"heatdesk-{name}")["spec"]["serviceName"] == f"heatdesk-{name}"


def test_lag_autoscaling_is_bounded_by_partitions(docs):
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(docs, "KafkaTopic")}
    for name in ("classify", "route", "notify"):
        settings_cls, consumer_cls, _ = SERVICES[name]
        scaled = one(docs, "ScaledObject", f"heatdesk-{name}")
        target = scaled["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("StatefulSet", f"heatdesk-{name}")
        (trigger,) = scaled["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == default(settings_cls, f"{name}_group_id")
        assert meta["topic"] in consumed_topics(consumer_cls), f"{name} does not consume {meta['topic']}"
        assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
        assert scaled["spec"]["maxReplicaCount"] <= partitions[meta["topic"]], \
            f"{name}: more replicas than {meta['topic']} has partitions"
        assert meta["allowIdleConsumers"] == "false"
        assert meta["offsetResetPolicy"] == "earliest"  # what the consumers do (auto_offset_reset)
        (container,) = pod_spec(one(docs, "StatefulSet", f"heatdesk-{name}"))["containers"]
        assert meta["bootstrapServersFromEnv"] in configmap_data(docs, env_configmap_name(container))
    hpa = one(docs, "HorizontalPodAutoscaler", "heatdesk-ingest")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "heatdesk-ingest"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_prod_reaches_kafka_over_tls_with_scram_and_keda_too():
    docs = render("prod")
    env = configmap_data(docs, env_configmap_name(pod_spec(one(docs, "Deployment", "heatdesk-ingest"))["containers"][0]))
    settings = loader.load(IngestSettings, env)
    assert settings.kafka_security_protocol == "SASL_SSL" and settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_idempotence is True
    auth = one(docs, "TriggerAuthentication", "heatdesk-kafka")
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"username", "password", "ca"}
    for scaled in of_kind(docs, "ScaledObject"):
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["authenticationRef"]["name"] == "heatdesk-kafka"
        assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
    for workload in of_kind(docs, "Deployment", "StatefulSet"):
        (container,) = pod_spec(workload)["containers"]
        assert env_map(container)["HEATDESK_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is False


def test_topics_match_the_code(overlay, docs):
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    specs = {spec.name: spec for spec in all_topics()}
    assert set(topics) == set(specs)
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        config = topic["spec"]["config"]
        assert int(config["retention.ms"]) == int(specs[name].config["retention.ms"]), name
        assert config["cleanup.policy"] == specs[name].config.get("cleanup.policy", "delete"), name
        assert 1 <= int(config["min.insync.replicas"]) <= topic["spec"]["replicas"]
        if overlay == "prod":
            assert topic["spec"]["replicas"] >= 3 and int(config["min.insync.replicas"]) >= 2, name


def test_network_policies_follow_what_each_pod_uses(docs):
    policies = of_kind(docs, "NetworkPolicy")

    def applying(labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
        return [p for p in policies if direction in p["spec"]["policyTypes"]
                and selects(p["spec"]["podSelector"].get("matchLabels", {}), labels)]

    deny = one(docs, "NetworkPolicy", "heatdesk-default-deny")
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny["spec"]
    for workload in workloads(docs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        (container,) = pod_spec(workload)["containers"]
        env = set(env_map(container))
        for source in container.get("envFrom", []):
            env |= set(configmap_data(docs, source["configMapRef"]["name"]))
        assert deny in applying(labels, "Egress"), resource_id(workload)
        egress_ports = {port["port"] for p in applying(labels, "Egress") for rule in p["spec"].get("egress", [])
                        for port in rule.get("ports", [])}
        assert 53 in egress_ports
        assert (5432 in egress_ports) == ("DATABASE_URL" in env), f"{resource_id(workload)}: PostgreSQL egress"
        assert bool(egress_ports & {9092, 9093}) == ("KAFKA_BOOTSTRAP_SERVERS" in env), \
            f"{resource_id(workload)}: Kafka egress"
        # HTTPS out: notify's webhooks, and ingest's Graph API fetches (when it has the token)
        assert (443 in egress_ports) == ("HEATDESK_INGEST_GRAPH_TOKEN" in env or component(workload) == "notify")
        if workload["kind"] != "Job":
            ingress_ports = {port["port"] for p in applying(labels, "Ingress") for rule in p["spec"].get("ingress", [])
                             for port in rule.get("ports", [])}
            assert "http" in ingress_ports, f"{resource_id(workload)}: Prometheus cannot scrape it"
    ingest_open = one(docs, "NetworkPolicy", "heatdesk-ingest-ingress")["spec"]["ingress"]
    assert ingest_open == [{"ports": [{"protocol": "TCP", "port": 8080}]}], "webhooks reach ingest from anywhere"


def test_the_dashboard_configmap_carries_the_dashboard(docs):
    configmap = one(docs, "ConfigMap", "heatdesk-grafana-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"]["heatdesk.json"] == (DEPLOY / "grafana" / "heatdesk.json").read_text()
