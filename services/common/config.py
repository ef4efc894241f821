"""Settings shared by every service; each service extends `ServiceSettings`."""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any


def setting(default: Any, doc: str) -> Any:
    """A settings field with its documentation (shown by `heatdesk config`)."""
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    return dataclasses.field(default=default, metadata={"doc": doc})


def _default_instance_id() -> str:
    # On Kubernetes the pod name is stable across restarts of the same pod: exactly what
    # static group membership wants. Elsewhere fall back to the host name.
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: What `HEATDESK_KAFKA_COMPRESSION_TYPE` accepts: Kafka's codecs, all decoded by aiokafka's
#: cramjam backend, which the package installs, so a consumer reads whatever a producer chose.
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """What every Heatdesk process needs: where the broker and database are, how to log."""

    kafka_bootstrap_servers: str = setting("127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
    database_url: str = setting("postgresql://postgres@127.0.0.1:5432/heatdesk", "PostgreSQL DSN")
    http_host: str = setting("0.0.0.0", "Address the HTTP server (API, /metrics, /healthz, /readyz) binds")
    log_level: str = setting("INFO", "Log level (DEBUG, INFO, WARNING, ERROR)")
    gc_tuning: bool = setting(True, "Freeze the start-up heap and collect cycles every 20,000 allocations instead "
                                    "of 700 (about 5 % less CPU per record; false: CPython's defaults)")
    kafka_client_id_prefix: str = setting("heatdesk", "Prefix of the Kafka client ids")
    kafka_security_protocol: str = setting("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_mechanism: str = setting("", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (with SASL_*)")
    kafka_sasl_username: str = setting("", "SASL user name")
    kafka_sasl_password: str = setting("", "SASL password (mount it from a Secret)")
    kafka_ssl_cafile: str = setting("", "CA bundle (PEM) that signed the brokers' certificates, e.g. Strimzi's cluster "
                                        "CA (empty: the system CAs); the broker's host name is always verified")
    kafka_ssl_certfile: str = setting("", "Client certificate (PEM) for mutual TLS (empty: none)")
    kafka_ssl_keyfile: str = setting("", "Private key (PEM) of the client certificate")
    kafka_ssl_key_password: str = setting("", "Password of the client key, if it is encrypted (mount it from a Secret)")
    kafka_sasl_oauth_token_path: str = setting("", "OAUTHBEARER: file holding the access token, read at every "
                                                   "authentication (a projected, rotated token)")
    kafka_sasl_oauth_token_url: str = setting("", "OAUTHBEARER: OAuth 2.0 token endpoint (client-credentials grant)")
    kafka_sasl_oauth_client_id: str = setting("", "OAUTHBEARER: client id at the token endpoint")
    kafka_sasl_oauth_client_secret: str = setting("", "OAUTHBEARER: client secret (mount it from a Secret)")
    kafka_sasl_oauth_scope: str = setting("", "OAUTHBEARER: scope requested from the token endpoint (empty: none)")
    kafka_idempotence: bool = setting(False, "Idempotent producer; turn on for production Kafka (the embedded dev broker lacks it)")
    kafka_compression_type: str = setting(
        "zstd", "Producer compression: none, gzip, snappy, lz4 or zstd (zstd: the broker's CPU per mention about "
                "halved in the benchmark; 1.1 us a record to encode and decode; Kafka 2.1 or later)")
    kafka_request_timeout_ms: int = setting(15000, "How long a producer keeps retrying a record before it fails")
    kafka_fetch_max_wait_ms: int = setting(50, "Longest a consumer's fetch waits at the broker for new records "
                                                "(the per-hop latency floor when traffic is light)")
    kafka_session_timeout_ms: int = setting(10000, "Consumer group session timeout")
    kafka_heartbeat_interval_ms: int = setting(1000, "Consumer heartbeat interval")
    kafka_static_membership: bool = setting(False, "Use group_instance_id (pod name) for static membership on Kubernetes")
    kafka_group_instance_id: str = setting("", "Static member id; defaults to POD_NAME/host name when static membership is on")
    kafka_exactly_once: bool = setting(False, "Apache Kafka only: classify's outputs, dead letters and input offsets "
                                              "commit in one Kafka transaction, and every consumer reads committed "
                                              "records only (the dev broker lacks transactions: keep false there)")
    topic_partitions: int = setting(4, "Partitions of topics created by `heatdesk topics`")
    topic_replication_factor: int = setting(1, "Replication factor of topics created by `heatdesk topics`")
    db_pool_min: int = setting(1, "Minimum PostgreSQL connections")
    db_pool_max: int = setting(5, "Maximum PostgreSQL connections")
    shutdown_grace_seconds: float = setting(10.0, "How long a stopping service may drain before it is cut off")
    pii_allow: tuple[str, ...] = setting((), "Personal data left unmasked in logs and on department topics: any of "
                                              "card, email, phone, link (empty: all masked)")

    def __post_init__(self) -> None:
        """Refuse values no Kafka client understands at start, not at the first connection."""
        from services.common.pii import parse_allow

        if self.kafka_security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"HEATDESK_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol!r}: use one of "
                             f"{', '.join(SECURITY_PROTOCOLS)}")
        if self.kafka_compression_type not in COMPRESSION_TYPES:
            raise ValueError(f"HEATDESK_KAFKA_COMPRESSION_TYPE={self.kafka_compression_type!r}: use one of "
                             f"{', '.join(COMPRESSION_TYPES)}")
        if self.kafka_sasl_mechanism and self.kafka_sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(f"HEATDESK_KAFKA_SASL_MECHANISM={self.kafka_sasl_mechanism!r}: use one of "
                             f"{', '.join(SASL_MECHANISMS)}")
        parse_allow(self.pii_allow)

    def transactional_id(self, service: str) -> str:
        """The producer's transactional id: stable across restarts of the same pod, so a restarted
        process fences its predecessor's zombie and aborts the transaction it left open."""
        return f"{self.kafka_client_id_prefix}-{service}-{self.kafka_group_instance_id or _default_instance_id()}"

    def instance_id(self, service: str) -> str | None:
        """group_instance_id for this process, or None when static membership is off."""
        if not self.kafka_static_membership:
            return None
        return f"{service}-{self.kafka_group_instance_id or _default_instance_id()}"
