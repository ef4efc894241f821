"""The notify service: case events arm SLA timers; a scanner fires them; senders deliver.

Three loops, each safe to run on any number of replicas:
- consume `cases.events.v1` and arm/stop timers (offsets committed after the DB commit);
- scan due timers (`SKIP LOCKED`), fire each once, write alerts to the outbox and flush
  it to `sla.alerts.v1`;
- deliver pending notifications to the webhook with retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from services.common import settings as settings_loader
from services.common.clock import Clock, WallClock
from services.common.consumer_loop import Incoming
from services.common.consumer_service import ConsumerService, every
from services.common.errors import PoisonRecord
from services.common.outbox import enqueue
from services.common.topics import CASE_EVENTS, EventType
from services.notify.delivery import Sender, deliver_due
from services.notify.senders.webhook import WebhookSender
from services.notify.settings import NotifySettings
from services.notify.timers import arm_first_response, fire_due

log = logging.getLogger(__name__)
CASE_EVENT_TYPES = frozenset({EventType.CASE_OPENED, EventType.CASE_MENTION_ADDED, EventType.CASE_RESPONDED})


class NotifyService(ConsumerService):
    name = "notify"
    topics = (CASE_EVENTS,)
    expected_types = CASE_EVENT_TYPES
    uses_database = True

    def __init__(self, settings: NotifySettings, clock: Clock | None = None) -> None:
        super().__init__(settings, settings.notify_group_id, settings.notify_port)
        self.settings: NotifySettings = settings
        self.clock = clock or WallClock()
        self.senders: dict[str, Sender] = {}
        if settings.notify_webhook_url:
            self.senders["webhook"] = WebhookSender(settings.notify_webhook_url, settings.notify_webhook_timeout_s)

    def extra_tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        interval = self.settings.notify_scan_interval_s
        return [every(stop, interval, self.scan_once, log), every(stop, interval, self.deliver_once, log)]

    async def extra_close(self) -> None:
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()

    async def handle(self, batch: Sequence[Incoming]) -> None:
        assert self.pool is not None
        armed = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for item in batch:
                if item.event.type != EventType.CASE_OPENED:
                    continue  # next-response and resolution timers arrive with the SLA issue
                case = item.event.data.get("case")
                if not isinstance(case, dict) or not all(k in case for k in ("id", "department", "priority", "channel",
                                                                              "opened_at")):
                    raise PoisonRecord("schema_violation", "case.opened lacks the case snapshot")
                try:
                    armed += await arm_first_response(conn, case)
                except ValueError as exc:
                    raise PoisonRecord("schema_violation", str(exc)) from exc
        if armed:
            self.metrics.sla_timers_armed.labels("first_response").inc(armed)

    async def scan_once(self) -> int:
        """Fire every due timer now; return how many fired."""
        assert self.pool is not None and self.relay is not None
        total = 0
        while True:
            now = self.clock.now()
            async with self.pool.acquire() as conn, conn.transaction():
                fired, events = await fire_due(conn, now, self.settings.notify_scan_batch, list(self.senders))
                await enqueue(conn, self.name, events)
            for timer in fired:
                self.metrics.sla_breaches.labels(timer.department, timer.kind).inc()
                log.info("sla breached", extra={"case_id": timer.case_id, "timer": timer.kind,
                                                "department": timer.department, "priority": timer.priority})
            total += len(fired)
            if fired:
                await self.relay.flush()
            if len(fired) < self.settings.notify_scan_batch:
                return total

    async def deliver_once(self) -> int:
        assert self.pool is not None
        if not self.senders:
            return 0
        return await deliver_due(self.pool, self.senders, self.metrics, lease_s=self.settings.notify_lease_s,
                                 max_attempts=self.settings.notify_max_attempts)


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(NotifySettings)
    logconf.configure("notify", settings.log_level)
    return run(NotifyService(settings))
