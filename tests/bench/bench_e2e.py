"""End to end: the four services as processes on the embedded broker and PostgreSQL, fed over
HTTP like `heatdesk replay` feeds them, beside a relay chain of the same hops doing no work.

- Throughput: sustained mentions per second, POST to routed case, on a burst sent as fast as
  ingest accepts (64 requests in flight, keep-alive): the slope of the routed count between
  10 % and 90 % of the burst, so neither the pipeline filling nor its last batches draining
  count. The average from the first POST to the last routed case is reported beside it.
- Relay chain, same run, same broker: HTTP 202 after the broker's ack -> topic -> copy ->
  topic -> copy -> topic -> copy -> topic, one copy per consuming service (classify, route,
  notify), each hop with the services' own Kafka clients and settings (tests/bench/relay.py);
  the pipeline's throughput is reported as a fraction of it.
- Latency at fixed offered loads (open loop): received -> classified (the classified
  record's broker timestamp) -> routed (the mention row's routed_at) -> timer armed (the
  first-response timer row), in ms.
- Resident memory of each service at rest and after the load.
Run alone: python -m tests.bench.bench_e2e
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.db import split_database
from services.common.embedded import free_port
from services.common.kafka import ensure_topics
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import MENTIONS_CLASSIFIED, MENTIONS_RAW, TopicSpec
from tests.bench.common import analyze, cpu_seconds, figure, percentile, postgres_cpu_seconds, process, rss_mb, wait_http
from tests.bench.common import create_database as _create
from tests.bench.common import drop_database as _drop
from tests.bench.load import post_all
from tests.bench.texts import texts
from tests.brokers import create_lane_topics, lane_client_env, make_broker, strimzi_topics

BURST = 4000
#: Bursts of each, interleaved. Five, not three: the relay chain moved 4,670-6,502 mentions/s
#: within minutes on the 2-core machine when its consumers still waited aiokafka's default
#: 500 ms for an empty fetch; the median of five is steadier at about 10 s more per run.
RUNS = 5
#: Copy hops of the relay chain after its HTTP hop: one per service that consumes.
COPY_HOPS = 3
LOADS = (100, 500, 1000)
LOAD_SECONDS = 6
SERVICES = ("ingest", "classify", "route", "notify")


def bodies(tag: str, n: int, corpus: list[str]) -> list[dict[str, Any]]:
    now = format_rfc3339(utcnow())
    return [{"channel": "x", "external_id": f"{tag}-{i}", "text": corpus[i % len(corpus)],
             "author": {"id": f"{tag}-c{i % 1500}", "handle": f"c{i % 1500}", "followers": (i * 37) % 20000},
             "created_at": now} for i in range(n)]


async def _count(conn: asyncpg.Connection, tag: str) -> int:
    """Mentions of this burst routed so far: a range on the (channel, external_id) key.

    Polled every 50 ms while the pipeline runs, on one connection (a connection per poll
    forked a PostgreSQL backend 20 times a second), and PostgreSQL's CPU is part of the
    figure: `LIKE 'tag-%'` read the whole table each time (5 % of the statement time).
    """
    return int(await conn.fetchval(
        "SELECT count(*) FROM mentions WHERE channel = 'x' AND external_id >= $1 AND external_id < $2",
        f"{tag}-", f"{tag}."))  # '.' follows '-': every "tag-..." id and nothing else


#: The part of a burst whose delivery rate is its sustained throughput (fill and drain left out).
STEADY = (0.1, 0.9)

Progress = list[tuple[float, int]]


def sustained_rate(progress: Progress, n: int, steady: tuple[float, float] = STEADY) -> float:
    """Deliveries per second while a burst flowed: the least-squares slope of (time, delivered)
    over the samples between `steady` fractions of `n`.

    The first-to-last average counts the pipeline filling up and the last batches draining
    through every hop. The drain (a few fetch waits and commits) is about the same time for
    any chain of hops, so it weighed most on the shortest burst - the relay chain's, which
    moved 3,700-5,560 mentions/s within one run by that measure.
    """
    low, high = steady[0] * n, steady[1] * n
    window = [(t, k) for t, k in progress if low <= k <= high]
    if len(window) < 2 or window[-1][0] == window[0][0]:  # too few samples: the window's ends
        start = next(t for t, k in progress if k >= low)
        end = next(t for t, k in progress if k >= high)
        return (high - low) / max(end - start, 1e-6)
    mean_t = statistics.fmean(t for t, _ in window)
    mean_k = statistics.fmean(k for _, k in window)
    spread = sum((t - mean_t) ** 2 for t, _ in window)
    return sum((t - mean_t) * (k - mean_k) for t, k in window) / spread


async def _until_routed(dsn: str, tag: str, n: int, timeout: float = 300,
                        progress: Progress | None = None) -> float:
    """When all `n` were routed; `progress` gets (time, routed so far) every 50 ms."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() - started < timeout:
            routed = await _count(conn, tag)
            if progress is not None:
                progress.append((time.monotonic(), routed))
            if routed >= n:
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{tag}: only {await _count(conn, tag)} of {n} routed in {timeout}s")
    finally:
        await conn.close()


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each service, the broker, PostgreSQL and this load generator."""
    return {**{name: cpu_seconds(pid) for name, pid in pids.items()}, "postgres": postgres_cpu_seconds(),
            "load_generator": cpu_seconds(os.getpid())}


def cpu_per_1000(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU milliseconds per mention (= seconds per 1,000) each process spent on one burst."""
    return {name: round(1000 * (after[name] - before[name]) / BURST, 3) for name in after}


async def burst(ingest: str, dsn: str, tag: str, corpus: list[str]) -> tuple[float, float]:
    """(sustained mentions/s, average from the first POST to the last routed case)."""
    progress: Progress = []
    watcher = asyncio.create_task(_until_routed(dsn, tag, BURST, progress=progress))
    started = time.monotonic()
    result = await post_all(f"{ingest}/v1/mentions", bodies(tag, BURST, corpus))
    if result["statuses"].get(202, 0) != BURST:
        watcher.cancel()
        raise RuntimeError(f"ingest refused some posts: {result['statuses']}")
    done = await watcher
    return sustained_rate(progress, BURST), BURST / (done - started)


async def latency(ingest: str, dsn: str, bootstrap: str, tag: str, rate: float, corpus: list[str]) -> dict[str, Any]:
    n = int(rate * LOAD_SECONDS)
    await post_all(f"{ingest}/v1/mentions", bodies(tag, n, corpus), offered_per_s=rate, concurrency=256)
    await _until_routed(dsn, tag, n)
    await asyncio.sleep(1.0)  # let notify arm the last timers
    conn = await asyncpg.connect(dsn)
    try:
        # Timer armed = when notify applied the case.opened event (it arms the first-response
        # clock in that transaction); follow-ups later retarget the row, so its own update
        # time would overstate the delay.
        rows = await conn.fetch(
            """SELECT m.id::text AS id, m.received_at, m.routed_at, s.seen_at AS armed_at
                 FROM mentions m
                 LEFT JOIN case_events ce ON ce.case_id = m.case_id AND ce.type = 'com.heatdesk.case.opened.v1'
                                         AND ce.data->>'mention_id' = m.id::text
                 LEFT JOIN notify_events_seen s ON s.event_id = ce.event_id::text
                WHERE m.external_id LIKE $1""", f"{tag}-%")
    finally:
        await conn.close()
    classified = await _classified_times(bootstrap, {r["id"] for r in rows})
    to_classified = [classified[r["id"]] - r["received_at"].timestamp() * 1000 for r in rows if r["id"] in classified]
    to_routed = [(r["routed_at"] - r["received_at"]).total_seconds() * 1000 for r in rows]
    to_armed = [(r["armed_at"] - r["received_at"]).total_seconds() * 1000 for r in rows if r["armed_at"]]

    def pct(values: list[float]) -> dict[str, float]:
        return {"p50": round(percentile(values, 0.5), 1), "p95": round(percentile(values, 0.95), 1),
                "p99": round(percentile(values, 0.99), 1), "n": len(values)}

    return {"offered_per_s": rate, "received_to_classified_ms": pct(to_classified),
            "received_to_routed_ms": pct(to_routed), "received_to_timer_armed_ms": pct(to_armed)}


async def _classified_times(bootstrap: str, ids: set[str]) -> dict[str, float]:
    from tests.support import read_topic

    records = await read_topic(bootstrap, MENTIONS_CLASSIFIED, until=lambda rs: len(rs) > 0, timeout=60, settle=1.0)
    out = {}
    for r in records:
        mention_id = orjson.loads(r.value)["mention"]["id"]
        if mention_id in ids:
            out[mention_id] = float(r.timestamp)
    return out


async def relay_chain(bootstrap: str, logs: Path, corpus: list[str], tag: str, broker_pid: int,
                      cpu: list[dict[str, float]], hops: int = COPY_HOPS, broker_kind: str = "tansu"
                      ) -> tuple[float, float]:
    """(sustained mentions/s, average from the first POST to the last record out), as `burst`.

    The chain's topics are created first, with as many partitions as the pipeline's topics
    have on this broker (a production Kafka creates no topic on first use), and its clients
    get the same client settings as the services.
    """
    from aiokafka import AIOKafkaConsumer

    topics = [f"bench.chain.{tag}.{i}" for i in range(hops + 1)]
    env = lane_client_env(broker_kind)
    settings = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    if broker_kind == "kafka":  # as many partitions as the pipeline's input topic has on this broker
        (raw,) = [t for t in strimzi_topics() if t["topicName"] == MENTIONS_RAW]
        settings = dataclasses.replace(settings, topic_partitions=int(raw["partitions"]))
    await ensure_topics(settings, [TopicSpec(t, {}, "benchmark relay chain") for t in topics])
    port = free_port()
    with contextlib.ExitStack() as stack:
        http = stack.enter_context(process([sys.executable, "-m", "tests.bench.relay_http", str(port), bootstrap,
                                            topics[0]], env, logs / "chain0.log"))
        copies = [stack.enter_context(process([sys.executable, "-m", "tests.bench.relay", bootstrap, topics[i - 1],
                                               topics[i], f"c{i}-{tag}"], env, logs / f"chain{i}.log"))
                  for i in range(1, hops + 1)]
        wait_http(f"http://127.0.0.1:{port}/healthz")
        fetch_wait = loader.load(ServiceSettings, {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}).kafka_fetch_max_wait_ms
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=fetch_wait)
        await consumer.start()
        try:
            await asyncio.sleep(3)  # the relays join their groups before the clock starts
            pids = {"http_202": http.pid, **{f"copy_{i}": p.pid for i, p in enumerate(copies, 1)}, "broker": broker_pid}
            before = cpu_snapshot(pids)
            started = time.monotonic()
            await post_all(f"http://127.0.0.1:{port}/v1/mentions", bodies(tag, BURST, corpus))
            stamps = await _read_stamps(consumer, topics[-1], BURST)
            elapsed = time.monotonic() - started
            cpu.append({"wall_s": round(elapsed, 3), **cpu_per_1000(before, cpu_snapshot(pids))})
            # Delivery times are the last hop's record timestamps, taken when it sent each copy,
            # so nothing reads the last topic while the burst runs: a consumer beside the load
            # generator would parse every record in the process that sends the posts. (The
            # pipeline's clock, a count query every 50 ms, costs that process next to nothing.)
            progress = [(stamp / 1000, k) for k, stamp in enumerate(sorted(stamps), start=1)]
            return sustained_rate(progress, BURST), BURST / elapsed
        finally:
            await consumer.stop()


async def _read_stamps(consumer: Any, topic: str, n: int, timeout: float = 120) -> list[int]:
    """The timestamps (ms) of the first `n` records of `topic`, read from the beginning."""
    from aiokafka import TopicPartition

    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    while len(stamps) < n and time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
            continue
        if not consumer.assignment():
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        batch = await consumer.getmany(timeout_ms=100)
        stamps += [r.timestamp for records in batch.values() for r in records]
    if len(stamps) < n:
        raise RuntimeError(f"relay chain delivered {len(stamps)} of {n}")
    return stamps


def pair_ratios(pipeline: list[float], chain: list[float]) -> dict[str, Any]:
    """The pipeline's rate over the chain's burst right after it, for each interleaved pair.

    The headline `ratio` divides the two medians. A pair's bursts run seconds apart, so a
    pair's ratio cancels the machine's slower drift (its speed moved 15-40 % within a run
    on the 2-core machine), and the spread over the pairs shows how far one run can be trusted.
    """
    return figure([p / c for p, c in zip(pipeline, chain, strict=True)], "ratio", digits=3)


def cpu_summary(bursts: list[dict[str, float]]) -> dict[str, Any]:
    """Median CPU ms per mention of each process over the bursts, their sum, and the cores busy.

    Where the end-to-end time goes: if the sum over the wall time is near the machine's
    cores, the pipeline is CPU-bound and only less work per mention makes it faster.
    """
    names = [k for k in bursts[0] if k != "wall_s"]
    per = {n: statistics.median(b[n] for b in bursts) for n in names}
    total = sum(per.values())
    wall_ms_per_mention = 1000 * statistics.median(b["wall_s"] for b in bursts) / BURST
    return {"per_process": per, "total": round(total, 3),
            "cores_busy": round(total / wall_ms_per_mention, 2), "cores": os.cpu_count()}


def run(database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres", broker_kind: str = "tansu"
        ) -> dict[str, Any]:
    """The section on `broker_kind`: "tansu" (the embedded default) or "kafka" (Apache Kafka, KRaft,
    with the production client settings and the Strimzi topics' partitions)."""
    corpus, source = texts()
    pipeline, chain, loads, rss, cpu, chain_cpu = [], [], [], {}, [], []
    pipeline_avg, chain_avg = [], []
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        broker = make_broker(free_port(), logs / "broker.log", kind=broker_kind)
        broker.start()
        admin, _ = split_database(database_url)
        name = f"heatdesk_bench_e2e_{uuid.uuid4().hex[:8]}"
        dsn = admin.rsplit("/", 1)[0] + f"/{name}"
        try:
            asyncio.run(create_lane_topics(broker.bootstrap, kind=broker_kind))
            asyncio.run(_create(admin, name, dsn))
            ports = {s: free_port() for s in SERVICES}
            env = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": dsn, "HEATDESK_HTTP_HOST": "127.0.0.1",
                   "HEATDESK_LOG_LEVEL": "WARNING", "HEATDESK_KAFKA_SESSION_TIMEOUT_MS": "2000",
                   "HEATDESK_KAFKA_HEARTBEAT_INTERVAL_MS": "300", **lane_client_env(broker_kind),
                   **{f"HEATDESK_{s.upper()}_PORT": str(p) for s, p in ports.items()}}
            procs = {}
            with process([sys.executable, "-m", "services.cli", "ingest"], env, logs / "ingest.log") as procs["ingest"], \
                    process([sys.executable, "-m", "services.cli", "classify"], env, logs / "classify.log") as \
                    procs["classify"], \
                    process([sys.executable, "-m", "services.cli", "route"], env, logs / "route.log") as procs["route"], \
                    process([sys.executable, "-m", "services.cli", "notify"], env, logs / "notify.log") as \
                    procs["notify"]:
                for port in ports.values():
                    wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
                rss["rest"] = {s: round(rss_mb(p.pid), 1) for s, p in procs.items()}
                ingest = f"http://127.0.0.1:{ports['ingest']}"
                asyncio.run(burst(ingest, dsn, "warm", corpus))
                asyncio.run(analyze(dsn))
                pids = {**{s: p.pid for s, p in procs.items()}, "broker": broker.process.pid}
                for r in range(RUNS):  # interleaved with the chain, so drift hits both alike
                    before = cpu_snapshot(pids)
                    started = time.monotonic()
                    sustained, average = asyncio.run(burst(ingest, dsn, f"b{r}", corpus))
                    pipeline.append(sustained)
                    pipeline_avg.append(average)
                    cpu.append({"wall_s": round(time.monotonic() - started, 3), **cpu_per_1000(before, cpu_snapshot(pids))})
                    sustained, average = asyncio.run(relay_chain(broker.bootstrap, logs, corpus, f"r{r}",
                                                                 broker.process.pid, chain_cpu,
                                                                 broker_kind=broker_kind))
                    chain.append(sustained)
                    chain_avg.append(average)
                for rate in LOADS:
                    loads.append(asyncio.run(latency(ingest, dsn, broker.bootstrap, f"l{rate}", rate, corpus)))
                rss["load"] = {s: round(rss_mb(p.pid), 1) for s, p in procs.items()}
        finally:
            broker.close()
            asyncio.run(_drop(admin, name))
    version = "tansu" if broker_kind == "tansu" else f"kafka {broker.version}"  # type: ignore[union-attr]
    out = {"broker": version, "texts": source, "burst": BURST, "mentions_per_s": figure(pipeline, "mentions/s"),
           "relay_chain_per_s": figure(chain, "mentions/s"), "latency": loads, "rss_mb": rss,
           "cpu_ms_per_mention": cpu_summary(cpu), "relay_chain_cpu_ms_per_mention": cpu_summary(chain_cpu)}
    out["ratio"] = round(out["mentions_per_s"]["median"] / out["relay_chain_per_s"]["median"], 3)
    out["ratio_per_pair"] = pair_ratios(pipeline, chain)
    # Until 2026-11-24 (17:00 UTC) this average was the section's throughput.
    out["first_post_to_last_delivery"] = {
        "mentions_per_s": figure(pipeline_avg, "mentions/s"), "relay_chain_per_s": figure(chain_avg, "mentions/s"),
        "ratio": round(statistics.median(pipeline_avg) / statistics.median(chain_avg), 3)}
    at_500 = next(x for x in loads if x["offered_per_s"] == 500)["received_to_routed_ms"]
    out["latency_ms"] = {**{k: at_500[k] for k in ("p50", "p95", "p99")}, "offered_per_s": 500,
                         "path": "received -> routed"}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, default=str))
