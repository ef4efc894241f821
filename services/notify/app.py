"""The notify service: case events drive SLA clocks; a scanner fires their steps; senders deliver.

Loops, each safe to run on any number of replicas:
- consume `cases.events.v1` (clocks start, stop, pause, resume, retarget) and
  `mentions.classified.v1` (crisis windows); offsets are committed after the DB commit;
- scan due steps (`SKIP LOCKED`), fire each once, write alerts to the outbox and flush it
  to `sla.alerts.v1`;
- deliver pending notifications (webhook, email) with rate limits, retries and a dead letter;
- reload the SLA policies file when it changes; refresh the gauges; prune old dedupe rows.
The logic lives in engine (pure), store, cases, timers, delivery and crisis; this wires it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.common import settings as settings_loader
from services.common.clock import Clock, WallClock
from services.common.consumer_loop import Incoming
from services.common.consumer_service import ConsumerService, every
from services.common.errors import ConfigError, PoisonRecord
from services.common.outbox import enqueue
from services.common.slapolicy import KINDS, PolicyHolder
from services.common.topics import CASE_EVENTS, MENTIONS_CLASSIFIED, EventType
from services.notify import cases, crisis
from services.notify.delivery import Deliverer, DeliveryReport
from services.notify.engine import Armed, CaseSla, Effect, Ended, Engine
from services.notify.senders import Senders
from services.notify.settings import NotifySettings
from services.notify.settling import SettlingMeasurements
from services.notify.timers import FiredStep, fire_due

log = logging.getLogger(__name__)
HOUSEKEEPING_INTERVAL_S = 600.0
#: Every case lifecycle type; `assigned` (route's case API) only refreshes what notify knows of the case.
CASE_EVENT_TYPES = frozenset({EventType.CASE_OPENED, EventType.CASE_MENTION_ADDED, EventType.CASE_ESCALATED,
                              EventType.CASE_RESPONDED, EventType.CASE_RESOLVED, EventType.CASE_REOPENED,
                              getattr(EventType, "CASE_ASSIGNED", "com.heatdesk.case.assigned.v1")})


class NotifyService(ConsumerService):
    name = "notify"
    topics = (CASE_EVENTS, MENTIONS_CLASSIFIED)
    expected_types = CASE_EVENT_TYPES | {EventType.MENTION_CLASSIFIED}
    uses_database = True

    def __init__(self, settings: NotifySettings, clock: Clock | None = None) -> None:
        super().__init__(settings, settings.notify_group_id, settings.notify_port)
        self.settings: NotifySettings = settings
        if settings.notify_clock not in ("wall", "event"):
            raise ConfigError(f"HEATDESK_NOTIFY_CLOCK={settings.notify_clock!r}: use wall or event")
        if settings.notify_webhook_format not in ("slack", "json"):
            raise ConfigError(f"HEATDESK_NOTIFY_WEBHOOK_FORMAT={settings.notify_webhook_format!r}: use slack or json")
        if not settings.notify_crisis:
            self.topics = (CASE_EVENTS,)
            self.expected_types = CASE_EVENT_TYPES
        self.clock = clock or WallClock()
        self.policies = PolicyHolder(settings.sla_policies_path or None, settings.sla_first_response_targets,
                                     on_reload=lambda outcome: self.metrics.sla_policy_reloads.labels(outcome).inc())
        self.senders = Senders(settings)
        self.crisis = crisis.CrisisConfig(settings.notify_crisis_window_s, settings.notify_crisis_baseline_s,
                                          settings.notify_crisis_multiple, settings.notify_crisis_min_count,
                                          settings.notify_crisis_cooldown_s, settings.notify_crisis_notify)
        self._deliverer: Deliverer | None = None
        self.measurements = SettlingMeasurements(self.metrics, settings.notify_measure_settle_s)

    def deliverable(self, target: str) -> bool:
        return self.senders.get(target) is not None

    def extra_tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        s = self.settings
        return [every(stop, s.notify_scan_interval_s, self.scan_once, log),
                every(stop, s.notify_scan_interval_s, self.deliver_once, log),
                every(stop, s.notify_gauges_interval_s, self.refresh_gauges, log),
                every(stop, min(1.0, max(0.1, s.notify_measure_settle_s / 10)), self.measurements.flush_async, log),
                every(stop, HOUSEKEEPING_INTERVAL_S, self.housekeeping, log),
                self.policies.watch(stop, s.sla_policies_reload_s)]

    async def extra_close(self) -> None:
        await self.senders.close()

    # -- consuming ----------------------------------------------------------------------------

    async def handle(self, batch: Sequence[Incoming]) -> None:
        assert self.pool is not None
        case_items = [i for i in batch if i.event.type in CASE_EVENT_TYPES]
        negatives = []
        for item in batch:
            if item.event.type == EventType.MENTION_CLASSIFIED:
                try:
                    negative = crisis.negative_mention(item.event.data["mention"], item.event.data["classification"])
                except (KeyError, ValueError, TypeError, AttributeError) as exc:
                    raise PoisonRecord("schema_violation", f"classified mention: {type(exc).__name__}: {exc}") from exc
                if negative is not None:
                    negatives.append(negative)
        engine = Engine(self.policies.current())
        alerts: list[dict[str, Any]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            changes = await cases.apply_events(conn, engine, case_items)
            await cases.advance_watermarks(conn, case_items)
            if negatives:
                touched = await crisis.record(conn, negatives)
                stale = self.settings.notify_stale_after_s
                page_from = (self.clock.now() - timedelta(seconds=stale)
                             if stale > 0 and self.settings.notify_clock == "wall" else None)
                alerts = await crisis.evaluate(conn, touched, self.crisis, self.policies.current(), self.deliverable,
                                               page_from)
        self._observe(changes)
        for alert in alerts:
            self.metrics.crisis_alerts.labels(alert["scope"]).inc()
            log.warning("crisis detected", extra={"scope": alert["scope"], "key": alert["key"], "count": alert["count"],
                                                  "baseline": alert["baseline"], "targets": alert["targets"]})

    def _observe(self, changes: Sequence[tuple[CaseSla, Effect]]) -> None:
        """Metrics of committed clock changes: armed clocks now; what stopped clocks measured after
        they settled (`settling.py`), so a late correction does not count a clock twice."""
        for s, effect in changes:
            if isinstance(effect, Armed) and effect.new:
                self.metrics.sla_timers_armed.labels(effect.clock.kind).inc()
            elif isinstance(effect, Ended):
                self.measurements.add((s.case_id, effect.clock.kind, effect.clock.cycle),
                                      (s.department, s.channel, s.priority), effect.clock.kind, effect.outcome,
                                      effect.elapsed_s, effect.corrects)

    # -- the scanner ---------------------------------------------------------------------------

    async def scan_now(self, conn: Any) -> datetime | None:
        if self.settings.notify_clock == "event":
            return await cases.event_time_now(conn, self.settings.notify_watermark_idle_s)
        return self.clock.now()

    async def scan_once(self) -> int:
        """Fire every step due now; return how many fired."""
        assert self.pool is not None and self.relay is not None
        total = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                now = await self.scan_now(conn)
                if now is None:
                    return total
                result = await fire_due(conn, now, self.settings.notify_scan_batch, self.policies.current(),
                                        self.deliverable, self.settings.notify_stale_after_s)
                await enqueue(conn, self.name, result.events)
            for step in result.fired:
                self._count(step)
            total += len(result.fired)
            if result.events:
                await self.relay.flush()
            if result.claimed < self.settings.notify_scan_batch:
                return total

    def _count(self, step: FiredStep) -> None:
        m = self.metrics
        if step.level == "warning":
            m.sla_warnings.labels(step.department, step.kind).inc()
        elif step.level == "breach":
            m.sla_breaches.labels(step.department, step.kind).inc()
        elif step.level == "escalation":
            m.sla_escalations.labels(step.department, step.kind, step.step).inc()
        if (step.action and step.action != "escalate") or step.level == "rule":
            m.sla_actions.labels(step.department, step.action or "notify").inc()
        # The step's kind (warning, rule, breach, escalation, autoclose) is the `event` field; the log
        # level stays a standard one: a missed deadline is a WARNING, everything else INFO.
        log.log(logging.WARNING if step.level in ("breach", "escalation") else logging.INFO, "sla step fired",
                extra={"event": step.level, "case_id": step.case_id, "timer": step.kind, "cycle": step.cycle,
                       "step": step.step, "department": step.department, "priority": step.priority})

    # -- delivery, gauges, housekeeping --------------------------------------------------------

    async def deliver_once(self) -> DeliveryReport:
        assert self.pool is not None
        if self._deliverer is None:
            s = self.settings
            self._deliverer = Deliverer(self.pool, self.senders, self.metrics, lease_s=s.notify_lease_s,
                                        max_attempts=s.notify_max_attempts, rate_limit=s.notify_rate_limit,
                                        rate_window_s=s.notify_rate_window_s)
        return await self._deliverer.deliver_due()

    async def refresh_gauges(self) -> None:
        assert self.pool is not None
        m = self.metrics
        async with self.pool.acquire() as conn:
            now = await self.scan_now(conn) or self.clock.now()
            rates = await conn.fetch(
                """SELECT department, count(*) FILTER (WHERE first_responded) AS answered, count(*) AS opened
                     FROM sla_cases WHERE opened_at > $1::timestamptz - interval '7 days' AND opened_at <= $1
                    GROUP BY department""", now)
            clocks = await conn.fetch("SELECT kind, state, count(*) AS n FROM sla_timers WHERE state <> 'stopped' "
                                      "GROUP BY kind, state")
            open_departments = await conn.fetch("SELECT DISTINCT department FROM sla_cases WHERE status <> 'resolved'")
            failed = await conn.fetch("SELECT split_part(target, ':', 1) AS kind, count(*) AS n FROM notifications "
                                      "WHERE status = 'failed' GROUP BY 1")
        m.response_rate.clear()
        for r in rates:
            m.response_rate.labels(r["department"]).set(r["answered"] / r["opened"])
        m.sla_open_clocks.clear()
        for r in clocks:
            m.sla_open_clocks.labels(r["kind"], r["state"]).set(r["n"])
        m.notifications_undeliverable.clear()
        for r in failed:
            m.notifications_undeliverable.labels(r["kind"] if r["kind"] in ("webhook", "email") else "other").set(r["n"])
        self._export_zeros([r["department"] for r in open_departments])

    def _export_zeros(self, departments: Sequence[str]) -> None:
        """Warning and breach counters at zero for every department with open cases, on every replica.

        A labelled counter is absent until its first increment, and a series that appears at
        1 is no increase to `increase()`: a department's first breach since this replica
        started would never fire HeatdeskSLABreaches. Whichever replica's scanner fires a
        step, it has exported that department's counters since its last gauge refresh.
        """
        m = self.metrics
        for department in departments:
            for kind in KINDS:
                m.sla_warnings.labels(department, kind)
                m.sla_breaches.labels(department, kind)


    async def housekeeping(self) -> None:
        """Forget event ids older than any redelivery (topic retention is 30 days) and stale crisis hits."""
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM notify_events_seen WHERE seen_at < now() - interval '35 days'")
            await crisis.prune(conn, self.crisis)


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(NotifySettings)
    logconf.configure("notify", settings.log_level)
    return run(NotifyService(settings), gc_tuning=settings.gc_tuning)

