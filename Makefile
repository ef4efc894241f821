# Heatdesk developer entry points. Only `python3` (3.11+) is needed on the machine:
# every target creates the virtual environment and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench lint run test test-fast test-unit test-integration test-e2e test-kafka kafka install clean migrate topics check-deploy deploy-tools docs docs-reference image

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## kafka: Apache Kafka's broker jars (deploy/apache-kafka/pom.xml) copied by Maven from Maven Central
# into a cache this Makefile owns; services/common/embedded_kafka.py runs the broker from it.
KAFKA_LIBS  := .heatdesk/apache-kafka/libs
KAFKA_STAMP := $(KAFKA_LIBS)/.fetched
$(KAFKA_STAMP): deploy/apache-kafka/pom.xml
	@command -v mvn >/dev/null 2>&1 || { echo "the Kafka lane needs Maven and Java 17+ (Debian: apt-get install maven openjdk-17-jdk-headless)" >&2; exit 1; }
	rm -rf $(KAFKA_LIBS)
	mvn -q -B -Dstyle.color=never -f deploy/apache-kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	  -DoutputDirectory=$(abspath $(KAFKA_LIBS))
	@touch $@
kafka: $(KAFKA_STAMP)

## run: broker + database + the four services on embedded defaults (Ctrl-C stops all)
run: $(STAMP)
	$(BIN)/heatdesk dev

## test: the whole suite: lint, the deploy checks, the fast lane (unit, integration, end to end, faults on the
## embedded Tansu broker, and the image test), the Kafka lane (the same end-to-end and fault tests on Apache Kafka)
test: lint check-deploy docs image test-fast test-kafka

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q --ignore=tests/deploy

## test-kafka: the Kafka lane alone: the Kafka client layer's integration tests, the end-to-end tests and the
## fault tests (kill -9, broker outage, rolling restart, poison records) on a single-node Apache Kafka (KRaft)
## with the production client settings (acks=all, idempotent producer, static membership; tests/brokers.py)
KAFKA_LANE := tests/integration/test_publisher.py tests/integration/test_kafka_broker.py tests/e2e \
  tests/faults/test_kill.py tests/faults/test_broker_outage.py tests/faults/test_rolling_restart.py \
  tests/faults/test_poison.py tests/faults/test_exactly_once.py
test-kafka: $(STAMP) $(KAFKA_STAMP)
	HEATDESK_TEST_BROKER=kafka $(BIN)/python -m pytest -q $(KAFKA_LANE)

## deploy-tools: promtool + prometheus (Debian package) and kubectl, installed when missing
# kubernetes-validate comes with the `test` extra. apt-get needs root: sudo is used when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deploy-tools:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then \
	  echo "installing prometheus and promtool (Debian package prometheus)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi
	@if ! command -v kubectl >/dev/null 2>&1; then \
	  echo "installing kubectl (Debian package kubectl)"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends kubectl >/dev/null \
	    || { echo "kubectl is missing and could not be installed: install kubectl (with Kustomize >= 5)" >&2; exit 1; }; \
	fi
	@promtool --version 2>&1 | head -1; kubectl version --client 2>/dev/null | head -2

## check-deploy: render and validate the Kubernetes manifests, promtool check/test the alerts,
## scrape the running services with a real Prometheus and run every dashboard query against it
check-deploy: $(STAMP) deploy-tools
	$(BIN)/python -m pytest -q tests/deploy

## image: build the container image (deploy/docker/Dockerfile) with buildah, no Docker engine: debootstrapped
## base and host wheelhouse cached under .heatdesk/image/, tag heatdesk:<input hash>, skipped when it exists
image: $(STAMP)
	$(BIN)/python deploy/docker/build.py

## bench: every benchmark beside its same-run baseline; a table, and bench-results.json
bench: $(STAMP) $(KAFKA_STAMP)
	$(BIN)/python -m tests.bench.run

## docs: build the manual (docs/, mkdocs.yml) into site/ with --strict: a broken link or a page missing from
## the nav fails. It regenerates nothing: tests/unit/test_docs_reference.py fails when docs/reference/ is stale.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## docs-reference: regenerate docs/reference/*.md (settings, metrics, topics, alerts) from the code
docs-reference: $(STAMP)
	$(BIN)/heatdesk docs-reference --write docs/reference

lint: $(STAMP)
	$(BIN)/ruff check services tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

migrate: $(STAMP)
	$(BIN)/heatdesk migrate --create-database

topics: $(STAMP)
	$(BIN)/heatdesk topics

clean:
	rm -rf $(VENV) .heatdesk .pytest_cache *.egg-info

## audit: known vulnerabilities (PyPA advisory database via pip-audit) in every installed dependency of the
## project's environment. pip-audit lives in its own venv: it needs a newer click than faust-streaming allows.
## --strict: a dependency that could not be checked (no access to the vulnerability service) fails the audit
## instead of passing it silently.
.PHONY: audit
AUDIT_VENV ?= .venv-audit
audit: $(STAMP)
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && \
	  $(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip pip-audit; }
	$(AUDIT_VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off \
	  --path "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

## audit-latest: the same question through PyPI's project endpoint, for machines whose registry proxy
## blocks what pip-audit asks (per-version pages, OSV). Exact for dependencies at their latest release;
## the others are listed as unchecked and fail it (exit 2) - never reported clean.
.PHONY: audit-latest
audit-latest: $(STAMP)
	$(BIN)/python .ci/audit_latest.py --json audit-latest.json
