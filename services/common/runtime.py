"""Process lifecycle shared by the services: start, run until a signal, drain, stop.

SIGTERM (Kubernetes) and SIGINT (Ctrl-C) set one stop event. Loops finish the batch in
hand (its offsets committed only if its outputs are durable), the HTTP server closes,
clients close, and the process exits 0. A second signal, or the grace period running
out, cancels whatever is still running.
"""

from __future__ import annotations

import abc
import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Service(abc.ABC):
    """A long-running service: `start` connects, `run` works until stop, `close` releases."""

    name: str = "service"
    grace_seconds: float = 10.0

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """The loops to run concurrently until `stop` is set."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def serve(self, stop: asyncio.Event, on_started: Callable[[], None] | None = None) -> None:
        """Start, run the loops until `stop` (or until one fails), then close."""
        await self.start()
        if on_started is not None:
            on_started()
        log.info("service started", extra={"service_name": self.name})
        running = [asyncio.create_task(c) for c in self.tasks(stop)]
        stop_waiter = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*running, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in done if t is not stop_waiter and t.exception() is not None]
            stop.set()
            if running:
                _, pending = await asyncio.wait(running, timeout=self.grace_seconds)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
        finally:
            stop_waiter.cancel()
            for task in running:  # cancelled from outside (a crash test, a second signal): no orphans
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await self.close()
            log.info("service stopped", extra={"service_name": self.name})


def run(service: Service, gc_tuning: bool = True) -> int:
    """Run `service` in a fresh event loop with signal handling; return the exit code.

    `gc_tuning` (HEATDESK_GC_TUNING): settle the heap once the service has started.
    """

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await service.serve(stop, on_started=settle_heap if gc_tuning else None)
            return 0
        except Exception:
            log.exception("service failed", extra={"service_name": service.name})
            return 1

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main())


#: Allocations between two young-generation collections (CPython's default: 700).
GC_GEN0_THRESHOLD = 20_000


def settle_heap() -> None:
    """Keep what start-up built out of the cyclic collector's way, and collect less often.

    A service allocates a few dozen short-lived dicts per record, so with CPython's defaults
    the collector ran every 700 allocations, and each full pass walked every object alive -
    for classify, the whole spaCy model and the rule tables, none of which ever becomes
    garbage. `gc.freeze()` moves the start-up heap to a generation no pass visits; a higher
    young-generation threshold makes passes rarer (records are freed by reference counting
    anyway; the collector only finds cycles). Called once the service has started, in the
    service's own process only (`run`), never in a test process. HEATDESK_GC_TUNING=false
    keeps CPython's defaults.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _loop_factory():  # noqa: ANN202 - returns a loop factory or None
    """The standard loop, or uvloop when HEATDESK_EVENT_LOOP=uvloop and it is installed.

    Not the default: an A/B of the end-to-end benchmark on this 2-core machine showed no gain
    (1,546 vs 1,379 mentions/s, p99 677 vs 700 ms, one run each): the time goes to Python
    work, not socket overhead."""
    if os.environ.get("HEATDESK_EVENT_LOOP", "asyncio") != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
