"""HTTP load generator: keep-alive connections, fixed concurrency, per-request latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson


async def post_all(url: str, bodies: list[dict[str, Any]], concurrency: int = 64,
                   offered_per_s: float | None = None) -> dict[str, Any]:
    """POST every body; return throughput, latency percentiles and status counts.

    With `offered_per_s` the requests are started on a fixed schedule (open loop), so the
    latencies are those a client sending at that rate would see; without it, as fast as the
    server answers with `concurrency` requests in flight (closed loop).
    """
    from tests.bench.common import percentile

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(data: bytes) -> None:
            started = time.perf_counter()
            async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(time.perf_counter() - started)

        async def worker() -> None:
            while (data := await queue.get()) is not None:
                await one(data)

        encoded = [orjson.dumps(b) for b in bodies]
        started = time.perf_counter()
        if offered_per_s:
            tasks = []
            for i, data in enumerate(encoded):
                delay = started + i / offered_per_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(data)))
            await asyncio.gather(*tasks)
        else:
            for data in encoded:
                queue.put_nowait(data)
            for _ in range(concurrency):
                queue.put_nowait(None)
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"requests": len(bodies), "per_s": len(bodies) / elapsed, "elapsed_s": elapsed, "statuses": statuses,
            "p50_ms": 1000 * percentile(latencies, 0.50), "p99_ms": 1000 * percentile(latencies, 0.99)}


def unique_bodies(n: int, make: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    return [make(i) for i in range(n)]
