"""A single-node Apache Kafka (KRaft) for tests and benchmarks, beside the Tansu dev broker.

Tansu carries `make run` and the fast test lane, but it has no idempotent or transactional
producer and approximate end offsets, so the production settings (acks=all with an
idempotent producer, static membership, transactions, exact lag) can only be tested against
the broker users run. This module starts that broker from the jars Maven copied out of Maven
Central (`make kafka`, deploy/apache-kafka/pom.xml): format the storage once, start
`kafka.Kafka` as combined broker and controller, wait until it answers a request, stop. A
stop keeps the data folder, so a restart brings back every topic and offset, as a real
broker restart does.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from services.common.embedded import free_port, port_open, stop_process
from services.common.errors import ConfigError, DependencyUnavailable

#: Where `make kafka` puts the broker's class path (relative to the working directory).
DEFAULT_LIBS = Path(".heatdesk/apache-kafka/libs")
LIBS_ENV = "HEATDESK_APACHE_KAFKA_LIBS"

#: Broker settings that differ from Kafka's defaults, and why. Everything else is as shipped.
BROKER_SETTINGS = {
    # One node holds every replica: internal topics cannot ask for three.
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    # Fewer internal partitions than production's 50: created on a test's first group join.
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.num.partitions": "4",
    # A test's group forms at once instead of waiting 3 s for more members, and the tests'
    # 2-second session timeout (fast failover after a kill -9) is allowed (the default
    # minimum is 6 s; a client asking for less is refused with InvalidSessionTimeoutError).
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    # As on a production cluster managed by Strimzi or `heatdesk topics`: a client that
    # writes to a topic nobody created gets an error instead of a topic with defaults.
    "auto.create.topics.enable": "false",
    "num.network.threads": "2",
    "num.io.threads": "4",
}

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
logger.controller.name = kafka.controller
logger.controller.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def kafka_libs() -> Path:
    """The folder of the broker's jars: HEATDESK_APACHE_KAFKA_LIBS, else `make kafka`'s cache."""
    libs = Path(os.environ.get(LIBS_ENV) or DEFAULT_LIBS).resolve()
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise ConfigError(f"Apache Kafka's jars are not in {libs}: run `make kafka` (Maven copies them from "
                          f"Maven Central), or set {LIBS_ENV} to a folder holding kafka_2.13-*.jar and its "
                          f"dependencies")
    return libs


def kafka_version(libs: Path | None = None) -> str:
    """The broker's version, read off its jar's name (kafka_2.13-4.1.1.jar → 4.1.1)."""
    (jar,) = sorted((libs or kafka_libs()).glob("kafka_2.13-*.jar"))[-1:]
    return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64 without padding (Kafka's Uuid).

    Never one that starts with "-": `kafka-storage format -t -Abc…` reads it as an option and
    fails (1 format in 64 did), which is why Kafka's own Uuid.randomUuid() redraws those too."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def api_versions_answered(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the broker answers an ApiVersions request.

    An open port is not enough: Kafka binds its listener early and only serves requests once
    the node has joined its own quorum and caught up with the metadata log. ApiVersions v0 is
    the one request every broker version must answer, before any other.
    """
    client_id = b"heatdesk-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(struct.pack(">i", len(body)) + body)
            header = conn.recv(8)
    except OSError:
        return False
    return len(header) == 8 and struct.unpack(">ii", header)[1] == 7


class ApacheKafkaBroker:
    """Apache Kafka in KRaft mode, one process being both broker and controller, on loopback.

    Same surface as `EmbeddedBroker` (host, port, bootstrap, start, stop, advertised_port for a
    TCP proxy in front of it), so fixtures take either. `data_dir` holds the storage, the
    configuration and nothing else; a temporary folder when not given.
    """

    def __init__(self, port: int = 9092, host: str = "127.0.0.1", log_path: Path | None = None,
                 advertised_port: int | None = None, data_dir: Path | None = None,
                 heap_mb: int = 512, log_level: str = "INFO") -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port or port
        self.log_path = log_path
        self.controller_port = free_port()
        self._own_data_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="heatdesk-kafka-"))
        self.heap_mb = heap_mb
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def version(self) -> str:
        return kafka_version()

    def properties(self) -> dict[str, str]:
        controller = f"{self.host}:{self.controller_port}"
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{controller}",
            "listeners": f"PLAINTEXT://{self.bootstrap},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.advertised_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "log"),
            **BROKER_SETTINGS,
        }

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(level=self.log_level))
        return config

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        java = shutil.which("java") or (str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
                                        if os.environ.get("JAVA_HOME") else None)
        if not java:
            raise ConfigError("Apache Kafka needs Java 17 or later: install a JDK or set JAVA_HOME")
        return [java, f"-Xms{min(256, self.heap_mb)}m", f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                "-cp", f"{libs}/*", main, *args]

    def _format(self, libs: Path, config: Path) -> None:
        """Format the storage once; a restart keeps the formatted folder and its data."""
        if (self.data_dir / "log" / "meta.properties").exists():
            return
        proc = subprocess.run(self._java(libs, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                                         "-t", new_cluster_id(), "-c", str(config)),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise DependencyUnavailable(f"formatting Kafka's storage in {self.data_dir} failed: "
                                        f"{(proc.stdout + proc.stderr).strip()[-2000:]}")

    def start(self, timeout: float = 60.0) -> None:
        if port_open(self.host, self.port):
            raise ConfigError(f"{self.bootstrap} is already in use; stop what listens there")
        libs = kafka_libs()
        config = self._write_config()
        self._format(libs, config)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self._java(libs, "kafka.Kafka", str(config)), stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DependencyUnavailable(f"Apache Kafka exited with {self.process.returncode}; "
                                            f"see {self.log_path or 'its output'}")
            if api_versions_answered(self.host, self.port, 0.5):
                return
            time.sleep(0.1)
        self.stop()
        raise DependencyUnavailable(f"Apache Kafka did not answer on {self.bootstrap} within {timeout}s")

    def stop(self, graceful: bool = True, timeout: float = 20.0) -> None:
        """SIGTERM (a controlled shutdown that flushes the logs), SIGKILL after `timeout`."""
        stop_process(self.process, graceful, timeout)
        self.process = None

    def close(self) -> None:
        """Stop and delete the data folder when this object made it."""
        self.stop()
        if self._own_data_dir:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.data_dir)
