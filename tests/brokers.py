"""The broker a test run uses: Tansu (the fast lane) or Apache Kafka (the Kafka lane).

`HEATDESK_TEST_BROKER=kafka` (set by `make test-kafka`) swaps every broker the fixtures
start for a single-node Apache Kafka in KRaft mode, turns on the production client settings
(idempotent producer with acks=all, static group membership) and creates the topics as the
Strimzi `KafkaTopic`s in deploy/k8s/base declare them. The same tests then run on both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.embedded import EmbeddedBroker
from services.common.embedded_kafka import ApacheKafkaBroker

BROKER_ENV = "HEATDESK_TEST_BROKER"
BROKERS = ("tansu", "kafka")
STRIMZI_TOPICS = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "base" / "kafkatopics.yaml"

#: What a production deployment on Apache Kafka sets (deploy/k8s/base): Tansu lacks both.
PRODUCTION_CLIENT_ENV = {
    "HEATDESK_KAFKA_IDEMPOTENCE": "true",
    "HEATDESK_KAFKA_STATIC_MEMBERSHIP": "true",
}


def broker_kind() -> str:
    kind = os.environ.get(BROKER_ENV, "tansu").strip().lower() or "tansu"
    if kind not in BROKERS:
        raise pytest.UsageError(f"{BROKER_ENV}={kind!r}: use one of {', '.join(BROKERS)}")
    return kind


def on_kafka() -> bool:
    return broker_kind() == "kafka"


def lane_broker() -> str:
    """This lane's broker with its version, for reports: `kafka 4.1.1` or `tansu`."""
    if not on_kafka():
        return "tansu"
    from services.common.embedded_kafka import kafka_version

    return f"kafka {kafka_version()}"


#: For tests of what only Apache Kafka has (transactions, exact end offsets): they run in the Kafka lane.
requires_kafka = pytest.mark.skipif(not on_kafka(), reason="needs Apache Kafka: runs in the Kafka lane "
                                                           "(make test-kafka)")


def lane_client_env(kind: str | None = None) -> dict[str, str]:
    """Client settings of this lane's (or `kind`'s) services: the production ones on Apache Kafka."""
    return dict(PRODUCTION_CLIENT_ENV) if (kind or broker_kind()) == "kafka" else {}


def make_broker(port: int, log_path: Path, advertised_port: int | None = None,
                kind: str | None = None) -> EmbeddedBroker | ApacheKafkaBroker:
    """A broker of this lane's kind (or `kind`), not started; `start()` it, and `close()` it after."""
    if (kind or broker_kind()) == "kafka":
        return ApacheKafkaBroker(port=port, log_path=log_path, advertised_port=advertised_port,
                                 data_dir=log_path.parent / f"kafka-data-{port}", log_level="WARN")
    return EmbeddedBroker(port=port, log_path=log_path, advertised_port=advertised_port)


def strimzi_topics(path: Path = STRIMZI_TOPICS) -> list[dict[str, Any]]:
    """The KafkaTopic specs of the manifests: name, partitions, replicas, config."""
    with path.open() as f:
        return [doc["spec"] for doc in yaml.safe_load_all(f) if doc and doc.get("kind") == "KafkaTopic"]


async def create_lane_topics(bootstrap: str, kind: str | None = None) -> list[str]:
    """Every Heatdesk topic on this lane's broker; their names.

    On Kafka, with the partitions and configuration of the Strimzi KafkaTopics. One broker
    holds one replica, so replicas become 1 and min.insync.replicas at most 1: acks=all then
    means what it means on a cluster whose other replicas are all out of sync.
    """
    from services.common import settings as loader
    from services.common.config import ServiceSettings
    from services.common.kafka import ensure_topics
    from services.common.topics import all_topics

    if (kind or broker_kind()) != "kafka":
        await ensure_topics(loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}), all_topics())
        return [t.name for t in all_topics()]
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = strimzi_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        new = [NewTopic(s["topicName"], num_partitions=int(s["partitions"]), replication_factor=1,
                        topic_configs={k: str(v) for k, v in s.get("config", {}).items()}
                        | {"min.insync.replicas": "1"}) for s in specs]
        await admin.create_topics(new)
    finally:
        await admin.close()
    return [s["topicName"] for s in specs]
