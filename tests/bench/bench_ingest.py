"""Ingest over HTTP: accepted mentions per second and request latency, beside a bare 202 handler.

Both servers run as separate processes on the same machine, driven by the same client with
keep-alive and 64 requests in flight; ingest publishes to the embedded broker and answers
after its acknowledgement. Run alone: `python -m tests.bench.bench_ingest`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.embedded import EmbeddedBroker, free_port
from services.common.kafka import ensure_topics
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import all_topics
from tests.bench.common import figure, process, rss_mb, wait_http
from tests.bench.load import post_all
from tests.bench.texts import texts

REQUESTS = 4000
RUNS = 3


def _bodies(run: str, corpus: list[str]) -> list[dict[str, Any]]:
    now = format_rfc3339(utcnow())
    return [{"channel": "x", "external_id": f"bench-{run}-{i}", "text": corpus[i % len(corpus)],
             "author": {"id": f"cust-{i % 500}", "handle": f"c{i % 500}", "followers": i % 5000},
             "created_at": now} for i in range(REQUESTS)]


def run() -> dict[str, Any]:
    corpus, source = texts()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        broker = EmbeddedBroker(port=free_port(), log_path=logs / "broker.log")
        broker.start()
        try:
            asyncio.run(ensure_topics(loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}),
                                      all_topics()))
            ingest_port, bare_port = free_port(), free_port()
            env = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "HEATDESK_INGEST_PORT": str(ingest_port),
                   "HEATDESK_HTTP_HOST": "127.0.0.1", "HEATDESK_LOG_LEVEL": "WARNING"}
            with process([sys.executable, "-m", "services.cli", "ingest"], env, logs / "ingest.log") as ingest, \
                    process([sys.executable, "-m", "tests.bench.bare_202", str(bare_port)], {}, logs / "bare.log"):
                wait_http(f"http://127.0.0.1:{ingest_port}/readyz")
                wait_http(f"http://127.0.0.1:{bare_port}/healthz")
                rss_rest = rss_mb(ingest.pid)
                asyncio.run(post_all(f"http://127.0.0.1:{ingest_port}/v1/mentions", _bodies("warm", corpus)[:500]))
                results: dict[str, list[dict[str, Any]]] = {"ingest": [], "bare": []}
                for r in range(RUNS):  # interleaved, so drift on the machine hits both alike
                    results["ingest"].append(asyncio.run(post_all(
                        f"http://127.0.0.1:{ingest_port}/v1/mentions", _bodies(str(r), corpus))))
                    results["bare"].append(asyncio.run(post_all(
                        f"http://127.0.0.1:{bare_port}/v1/mentions", _bodies(str(r), corpus))))
                rss_load = rss_mb(ingest.pid)
        finally:
            broker.stop()
    accepted = [sum(n for s, n in run["statuses"].items() if s == 202) for run in results["ingest"]]
    out = {
        "texts": source, "requests_per_run": REQUESTS, "concurrency": 64,
        "accepted_per_s": figure([r["per_s"] for r in results["ingest"]], "mentions/s"),
        "p50_ms": figure([r["p50_ms"] for r in results["ingest"]], "ms", 2),
        "p99_ms": figure([r["p99_ms"] for r in results["ingest"]], "ms", 2),
        "accepted": accepted,
        "baseline_bare_202": {
            "per_s": figure([r["per_s"] for r in results["bare"]], "requests/s"),
            "p50_ms": figure([r["p50_ms"] for r in results["bare"]], "ms", 2),
            "p99_ms": figure([r["p99_ms"] for r in results["bare"]], "ms", 2),
        },
        "rss_mb": {"rest": round(rss_rest, 1), "load": round(rss_load, 1)},
    }
    out["ratio_to_bare"] = round(out["accepted_per_s"]["median"] / out["baseline_bare_202"]["per_s"]["median"], 3)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
