"""`heatdesk replay FILE`: feed historic traffic through ingest with its original timestamps.

Posts go through the same front door as live traffic (`POST /v1/mentions` and
`/v1/responses` of a running ingest, keep-alive, bounded concurrency), so replays exercise
validation, deduplication and acknowledgement exactly as production does. `--speed N`
replays N times faster than the data's own clock; `--speed 0` (the default) as fast as
the service accepts. `--shuffle SEED` sends the lines in a random order instead (what
platform webhooks that retry and reorder do to a stream), to show that the cases come out the
same in any arrival order. 503 and 429 answers are retried after their Retry-After; nothing is
dropped silently: the summary counts every line as accepted, duplicate, rejected (4xx,
with the first reasons), invalid (unreadable line) or failed (gave up after retries).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import orjson

from services.ingest.replay_sources import ReplayItem, read_items

ENDPOINTS = {"mention": "/v1/mentions", "response": "/v1/responses"}
MAX_ATTEMPTS = 10


@dataclasses.dataclass
class ReplaySummary:
    lines: int = 0
    by_kind: Counter[str] = dataclasses.field(default_factory=Counter)
    outcome: Counter[str] = dataclasses.field(default_factory=Counter)
    first_errors: list[str] = dataclasses.field(default_factory=list)
    elapsed_s: float = 0.0
    data_span_s: float = 0.0

    def error(self, message: str) -> None:
        if len(self.first_errors) < 10:
            self.first_errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        sent = self.outcome["accepted"] + self.outcome["duplicate"]
        return {"lines": self.lines, "by_kind": dict(self.by_kind), "outcome": dict(self.outcome),
                "elapsed_s": round(self.elapsed_s, 3), "per_s": round(sent / self.elapsed_s, 1) if self.elapsed_s else 0,
                "data_span_s": self.data_span_s, "first_errors": self.first_errors}

    def render(self) -> str:
        d = self.as_dict()
        kinds = ", ".join(f"{n} {k}s" for k, n in sorted(self.by_kind.items()))
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(self.outcome.items()))
        lines = [f"replayed {d['lines']} lines ({kinds}) in {d['elapsed_s']} s, {d['per_s']}/s; "
                 f"data spans {self.data_span_s / 3600:.1f} h",
                 f"outcome: {outcomes}"]
        lines += [f"  {e}" for e in self.first_errors]
        return "\n".join(lines)


class Progress:
    """One status line on stderr: redrawn in place on a terminal, every few seconds otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def tick(self, summary: ReplaySummary, force: bool = False) -> None:
        self.done += 0 if force else 1
        now = time.monotonic()
        if not force and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = self.done / max(1e-9, now - self.started)
        width = 30
        filled = int(width * self.done / max(1, self.total))
        bad = summary.outcome["rejected"] + summary.outcome["failed"] + summary.outcome["invalid"]
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{100 * self.done / max(1, self.total):5.1f}% {rate:7.0f}/s  problems {bad}")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        if force and self.tty:
            self.stream.write("\n")
        self.stream.flush()


async def _post(session: aiohttp.ClientSession, url: str, item: ReplayItem, summary: ReplaySummary,
                headers: dict[str, str]) -> None:
    body = orjson.dumps(item.body)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                text = await resp.read()
                if resp.status in (429, 503):
                    await asyncio.sleep(min(30.0, float(resp.headers.get("Retry-After", "1") or 1)))
                    continue
                if resp.status < 300:
                    answer = orjson.loads(text) if text else {}
                    summary.outcome["duplicate" if answer.get("duplicate") else "accepted"] += 1
                    return
                summary.outcome["rejected"] += 1
                summary.error(f"line {item.line}: {resp.status} {text[:300].decode('utf-8', 'replace')}")
                return
        except (TimeoutError, aiohttp.ClientError) as exc:
            if attempt == MAX_ATTEMPTS:
                break
            if attempt == 1:
                summary.error(f"line {item.line}: {exc!r}; retrying")
            await asyncio.sleep(min(10.0, 0.2 * 2 ** attempt))
    summary.outcome["failed"] += 1
    summary.error(f"line {item.line}: gave up after {MAX_ATTEMPTS} attempts")


async def replay(path: Path, *, target: str, layout: str = "auto", speed: float = 0.0, concurrency: int = 64,
                 token: str | None = None, limit: int | None = None, progress: bool = True,
                 shuffle: int | None = None) -> ReplaySummary:
    items = read_items(path, layout)
    if limit is not None:
        items = items[:limit]
    if shuffle is not None:
        if speed > 0:
            raise ValueError("--shuffle sends lines out of time order; it needs --speed 0")
        random.Random(shuffle).shuffle(items)
    summary = ReplaySummary(lines=len(items))
    timed = [i for i in items if i.kind != "invalid"]
    if timed:
        summary.data_span_s = (max(i.at for i in timed) - min(i.at for i in timed)).total_seconds()
    bar = Progress(len(items)) if progress else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    semaphore = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def send(item: ReplayItem) -> None:
            try:
                await _post(session, target.rstrip("/") + ENDPOINTS[item.kind], item, summary, headers)
            finally:
                semaphore.release()
                if bar:
                    bar.tick(summary)

        tasks = []
        origin = timed[0].at if timed else None
        for item in items:
            summary.by_kind[item.kind] += 1
            if item.kind == "invalid":
                summary.outcome["invalid"] += 1
                summary.error(f"line {item.line}: unreadable: {item.body['error']}")
                if bar:
                    bar.tick(summary)
                continue
            if speed > 0 and origin is not None:
                delay = started + (item.at - origin).total_seconds() / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await semaphore.acquire()
            tasks.append(asyncio.create_task(send(item)))
        await asyncio.gather(*tasks)
    summary.elapsed_s = time.monotonic() - started
    if bar:
        bar.tick(summary, force=True)
    return summary
