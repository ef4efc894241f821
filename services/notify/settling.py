"""Clock measurements held back a moment, so that a late event can still correct them.

Replies and posts reach notify out of order: a platform retries a webhook, a replay sends
everything at once, a brand's two replies to one post take different paths. The engine
re-measures a stopped first-response clock when an earlier reply or an earlier first post
turns up (`Ended.corrects`), but a Prometheus histogram cannot take an observation back.
So what a stopped clock measured waits here `settle_s` seconds (processing time) before it
reaches `heatdesk_sla_clocks_ended_total` and the latency histograms; a correction within
that time replaces it, and one after it is counted in `heatdesk_sla_corrections_total`
(`when="late"`: the database holds the corrected figure, the histogram the first one).
Held measurements live in memory: a restart loses them, as it resets every counter.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from services.common.metrics import Metrics

Key = tuple[str, str, int]  # (case id, clock kind, cycle)


@dataclasses.dataclass
class Held:
    labels: tuple[str, str, str]  # department, channel, priority
    kind: str
    outcome: str
    elapsed_s: float
    ready_at: float


class SettlingMeasurements:
    def __init__(self, metrics: Metrics, settle_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.settle_s = settle_s
        self.now = now
        self.held: dict[Key, Held] = {}
        self.histograms = {"first_response": metrics.first_response, "next_response": metrics.next_response,
                           "resolution": metrics.resolution}

    def add(self, key: Key, labels: tuple[str, str, str], kind: str, outcome: str, elapsed_s: float,
            corrects: bool) -> None:
        held = self.held.get(key)
        if corrects:
            when = "settling" if held is not None else "late"
            self.metrics.sla_corrections.labels(kind, when).inc()
            if held is None:
                return
        if held is not None:
            held.labels, held.outcome, held.elapsed_s = labels, outcome, elapsed_s
            return
        self.held[key] = Held(labels, kind, outcome, elapsed_s, self.now() + self.settle_s)
        if self.settle_s <= 0:
            self.flush()

    def flush(self) -> int:
        """Record every measurement whose settling time is over; how many."""
        now = self.now()
        ready = [key for key, held in self.held.items() if held.ready_at <= now]
        for key in ready:
            held = self.held.pop(key)
            department, channel, priority = held.labels
            self.metrics.sla_clocks_ended.labels(department, priority, held.kind, held.outcome).inc()
            if held.outcome != "cancelled" and held.kind in self.histograms:
                self.histograms[held.kind].labels(department, channel, priority).observe(held.elapsed_s)
        return len(ready)

    async def flush_async(self) -> None:
        self.flush()
