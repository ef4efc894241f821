"""Fixtures of the deploy checks.

The live-Prometheus test scrapes the same four-process stack the end-to-end tests run
(broker, database and `heatdesk ingest|classify|route|notify` as separate processes): the
fixture is imported from there rather than copied, so both suites start services one way.
"""

from tests.e2e.conftest import stack  # noqa: F401 - a pytest fixture, used by test_live_prometheus
