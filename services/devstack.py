"""`heatdesk dev`: the whole system on one machine, as separate processes.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and, when no
PostgreSQL answers at DATABASE_URL, an embedded one; creates topics and the database,
applies migrations, records where the database and broker are in `<state dir>/dev.json`
(services/common/devstate.py: the operator commands of a second terminal read it), starts
ingest, classify, route and notify as child processes, prints
where everything listens, and on Ctrl-C/SIGTERM stops all of it in reverse order. If a
child dies, the others are stopped too and the exit code says so: a half-running stack
is worse than a stopped one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from services.common import settings as settings_loader
from services.common.config import ServiceSettings
from services.common.db import create_database_if_missing, migrate, redact
from services.common.devstate import remove_state, write_state
from services.common.embedded import EmbeddedBroker, EmbeddedPostgres, server_answers
from services.common.kafka import ensure_topics
from services.common.topics import all_topics

# pgserver's PostgresServer computes platformdirs.user_runtime_path() in its class body, so the first
# import of any pgserver module warns (RuntimeDirWarning) when XDG_RUNTIME_DIR is unset. The
# embedded database never uses that path (EmbeddedPostgres drives initdb and pg_ctl itself):
# the warning is noise on the `make run` terminal, whichever pgserver import comes first.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)

SERVICES = (("ingest", "HEATDESK_INGEST_PORT", 8080), ("classify", "HEATDESK_CLASSIFY_PORT", 8081),
            ("route", "HEATDESK_ROUTE_PORT", 8082), ("notify", "HEATDESK_NOTIFY_PORT", 8083))


def _say(message: str) -> None:
    print(f"heatdesk dev | {message}", flush=True)


def run_dev(state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    broker: EmbeddedBroker | None = None
    pg: EmbeddedPostgres | None = None
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            broker = EmbeddedBroker(port=int(env.get("HEATDESK_DEV_KAFKA_PORT", "9092")),
                                    log_path=state_dir / "broker.log")
            broker.start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
            _say(f"embedded Kafka broker (Tansu, memory storage) on {broker.bootstrap}")
        else:
            _say(f"using Kafka at {env['KAFKA_BOOTSTRAP_SERVERS']}")
        settings = settings_loader.load(ServiceSettings, env)
        dsn = settings.database_url
        if not asyncio.run(server_answers(dsn)):
            _say(f"no PostgreSQL answers at {redact(dsn)}; starting an embedded one in {state_dir / 'pgdata'}")
            pg = EmbeddedPostgres(state_dir / "pgdata")
            dsn = pg.start("heatdesk")
        env["DATABASE_URL"] = dsn
        settings = settings_loader.load(ServiceSettings, env)
        if asyncio.run(create_database_if_missing(dsn)):
            _say("created the database")
        applied = asyncio.run(migrate(dsn))
        _say(f"PostgreSQL at {redact(dsn)}; migrations applied now: {', '.join(applied) or 'none (up to date)'}")
        write_state(state_dir, dsn, env["KAFKA_BOOTSTRAP_SERVERS"])  # for `heatdesk cases` in another terminal
        from services.route.cli import departments_in_force

        specs = all_topics(departments_in_force(env.get("HEATDESK_ROUTE_RULES_PATH", "")))
        created = asyncio.run(ensure_topics(settings, specs))
        _say(f"topics ready ({len(specs)}; created now: {len(created)})")
        for name, _, _ in SERVICES:
            proc = subprocess.Popen([sys.executable, "-m", "services.cli", name], env=env)
            children.append((name, proc))
        host = "127.0.0.1"
        for name, port_var, default_port in SERVICES:
            port = env.get(port_var, str(default_port))
            extra = {"ingest": "  POST /v1/mentions, /v1/responses, /v1/channels/{x,meta,email}",
                     "route": "  /v1/cases (case API), /openapi.json"}.get(name, "")
            _say(f"{name:<8} http://{host}:{port}  /metrics /healthz /readyz{extra}")
        _say("press Ctrl-C to stop")
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    _say(f"{name} exited with {proc.returncode}; stopping everything")
                    return 1
            time.sleep(0.2)
        _say("stopping")
        return 0
    finally:
        remove_state(state_dir)
        _stop_children(children)
        if broker is not None:
            broker.stop()
        if pg is not None:
            pg.stop()
        if children or broker or pg:
            _say("stopped")


def _stop_children(children: list[tuple[str, subprocess.Popen[bytes]]], grace_s: float = 15.0) -> None:
    for _, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for name, proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop in {grace_s}s; killing it")
            proc.kill()
            proc.wait()
