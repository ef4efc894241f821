"""Settings of the ingest service (`HEATDESK_INGEST_*` and the shared ones)."""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting


@dataclasses.dataclass(frozen=True)
class IngestSettings(ServiceSettings):
    ingest_port: int = setting(8080, "Port of the ingest API, /metrics and probes")
    ingest_max_body_bytes: int = setting(1024 * 1024, "Largest accepted request body (413 beyond)")
    ingest_max_in_flight: int = setting(2000, "Publishes awaiting broker acknowledgement before 503 Retry-After")
    ingest_publish_timeout_s: float = setting(10.0, "How long a request waits for the broker before 503")
    ingest_retry_after_s: int = setting(5, "Retry-After seconds sent with 503")
