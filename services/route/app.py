"""The route service: classified mentions and responses in, cases and case events out.

Each batch from `mentions.classified.v1` and `responses.v1` is applied in one database
transaction that also writes the events announcing it to the outbox (see batch.py); after
the commit the outbox is flushed to `cases.<department>.v1` and `cases.events.v1`, and only
then are the offsets committed. A crash before the commit redoes the batch (idempotent on
mention and response ids); a crash after it leaves the events in the outbox, which the next
flush publishes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from services.common import settings as settings_loader
from services.common.auth import parse_tokens
from services.common.consumer_loop import Incoming
from services.common.consumer_service import ConsumerService, every
from services.common.errors import ConfigError, PoisonRecord
from services.common.outbox import enqueue
from services.common.slapolicy.holder import PolicyHolder
from services.common.timeutil import parse_rfc3339, utcnow
from services.common.topics import MENTIONS_CLASSIFIED, RESPONSES, SLA_ALERTS, EventType
from services.route.api.handlers import CaseApi
from services.route.batch import BatchRouter, Outcome
from services.route.playbook import Playbook
from services.route.rules.reload import RulesHolder
from services.route.settings import RouteSettings
from services.route.sla_actions import apply_alerts
from services.route.state import ThreadingPolicy
from services.route.store import open_cases_by_department

log = logging.getLogger(__name__)
PRIORITIES = ("critical", "high", "normal", "low")


def check_classified(data: dict[str, Any], departments: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    mention, classification = data.get("mention"), data.get("classification")
    if not isinstance(mention, dict) or not isinstance(classification, dict):
        raise PoisonRecord("schema_violation", "expected {mention, classification} objects")
    try:
        for field in ("id", "channel", "external_id", "text", "created_at", "received_at"):
            if field not in mention:
                raise PoisonRecord("schema_violation", f"mention lacks '{field}'")
        if "id" not in mention["author"]:
            raise PoisonRecord("schema_violation", "mention author lacks 'id'")
        parse_rfc3339(mention["created_at"])
        parse_rfc3339(mention["received_at"])
        if classification["priority"]["bucket"] not in PRIORITIES:
            raise PoisonRecord("schema_violation", "unknown priority bucket")
        int(classification["priority"]["score"])
        if classification["department"] not in departments:
            raise PoisonRecord("unknown_department", str(classification["department"])[:100])
    except (KeyError, TypeError, ValueError) as exc:
        raise PoisonRecord("schema_violation", f"{type(exc).__name__}: {exc}") from exc
    return mention, classification


def check_response(data: dict[str, Any]) -> dict[str, Any]:
    try:
        for field in ("id", "kind", "channel", "external_id", "author", "created_at", "received_at"):
            if field not in data:
                raise PoisonRecord("schema_violation", f"response lacks '{field}'")
        if data["kind"] not in ("reply", "resolution", "reopen"):
            raise PoisonRecord("schema_violation", f"unknown response kind {data['kind']!r}")
        str(data["author"]["id"])
        parse_rfc3339(data["created_at"])
        parse_rfc3339(data["received_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PoisonRecord("schema_violation", f"{type(exc).__name__}: {exc}") from exc
    return data


class RouteService(ConsumerService):
    name = "route"
    topics = (MENTIONS_CLASSIFIED, RESPONSES, SLA_ALERTS)
    expected_types = frozenset({EventType.MENTION_CLASSIFIED, EventType.RESPONSE_RECORDED, EventType.SLA_BREACHED})
    uses_database = True

    def __init__(self, settings: RouteSettings) -> None:
        super().__init__(settings, settings.route_group_id, settings.route_port)
        self.settings: RouteSettings = settings
        self.policies = PolicyHolder(settings.sla_policies_path or None, settings.sla_first_response_targets)
        self.rules = RulesHolder(Path(settings.route_rules_path) if settings.route_rules_path else None, self.metrics)
        try:
            tokens = parse_tokens(settings.route_api_tokens)
        except ValueError as exc:
            raise ConfigError(f"HEATDESK_ROUTE_API_TOKENS: {exc}") from exc
        playbook = Playbook.load(Path(settings.route_playbook_path) if settings.route_playbook_path else None)
        self.api = CaseApi(lambda: self.pool, tokens, lambda: self.rules.current().departments,
                           lambda conn, events: enqueue(conn, self.name, events), self._flush, playbook)
        self.api.register(self.http.app)
        self.http.app.router.add_get("/openapi.json", _openapi)
        self.router = BatchRouter(
            self.rules.current,
            ThreadingPolicy(window=timedelta(seconds=settings.route_thread_window_s),
                            reopen_window=timedelta(seconds=settings.route_reopen_window_s),
                            reopen=settings.route_reopen),
            self._due, timedelta(days=settings.route_repeat_window_days))

    async def _flush(self) -> int:
        assert self.relay is not None
        return await self.relay.flush()

    async def start(self) -> None:
        if not self.api.tokens:
            log.warning("no HEATDESK_ROUTE_API_TOKENS: the case API is open (development only)")
        await super().start()

    def _due(self, created_at: datetime, priority: str, sla_policy: str, department: str, channel: str,
             tags: Sequence[str], public: bool) -> datetime | None:
        """The case's deadline of record, from the SLA policy the case names or selects (business time)."""
        policy = self.policies.current().resolve(sla_policy, priority, department, channel, tags, public)
        return policy.due("first_response", created_at)

    def extra_tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        wait = self.settings.route_reply_wait_s
        return [every(stop, self.settings.route_open_cases_refresh_s, self.refresh_open_cases, log),
                every(stop, min(60.0, max(0.2, wait / 4)), self.apply_overdue_replies, log),
                self.rules.watch(stop, self.settings.route_rules_reload_s),
                self.policies.watch(stop, self.settings.sla_policies_reload_s)]

    async def handle(self, batch: Sequence[Incoming]) -> None:
        assert self.pool is not None and self.relay is not None
        departments = self.rules.current().departments
        mentions = [check_classified(i.event.data, departments) for i in batch
                    if i.event.type == EventType.MENTION_CLASSIFIED]
        responses = [check_response(i.event.data) for i in batch if i.event.type == EventType.RESPONSE_RECORDED]
        alerts = [(i.event.id, i.event.data) for i in batch
                  if i.event.type == EventType.SLA_BREACHED and i.event.data.get("action") in ("autoclose", "reassign")]
        async with self.pool.acquire() as conn, conn.transaction():
            result = await self.router.route(conn, mentions, responses)
            if alerts:
                outcomes = await apply_alerts(conn, alerts, result.events)
                for outcome, n in outcomes.items():
                    if n:
                        self.metrics.sla_actions_applied.labels(outcome).inc(n)
            written = await enqueue(conn, self.name, result.events)
        if await self.relay.pending_before(written.ids):
            await self.relay.flush()  # older rows first (a crash left them): keep the order
        else:
            await self.relay.publish_written(written)
        self._observe(result.outcomes, {m["id"]: m["received_at"] for m, _ in mentions})
        for outcome, n in result.responses.items():
            if n:
                self.metrics.responses_applied.labels(outcome).inc(n)

    async def apply_overdue_replies(self) -> None:
        """Replies whose post never came, after `HEATDESK_ROUTE_REPLY_WAIT_S`: one more match,
        by conversation or customer (`heatdesk_responses_applied_total{outcome=…_after_wait}`)."""
        assert self.pool is not None and self.relay is not None
        async with self.pool.acquire() as conn, conn.transaction():
            result = await self.router.apply_overdue_replies(conn, self.settings.route_reply_wait_s)
            written = await enqueue(conn, self.name, result.events) if result.events else None
        if written is not None:
            await self.relay.flush()
        for outcome, n in result.responses.items():
            if n:
                self.metrics.responses_applied.labels(outcome).inc(n)

    def _observe(self, outcomes: Sequence[Outcome], received: dict[str, str]) -> None:
        """Counters once per label set and batch, not once per mention (a `labels` lookup each)."""
        m = self.metrics
        for (department, outcome), n in Counter((o.department, o.outcome) for o in outcomes).items():
            m.mentions_routed.labels(department, outcome).inc(n)
        for (department, priority), n in Counter((o.department, o.priority) for o in outcomes
                                                 if o.outcome == "opened").items():
            m.cases_opened.labels(department, priority).inc(n)
        now, latency = utcnow(), m.pipeline_latency.labels("route")
        for o in outcomes:
            if o.outcome != "duplicate":
                latency.observe(max(0.0, (now - parse_rfc3339(received[o.mention_id])).total_seconds()))

    async def refresh_open_cases(self) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            counts = await open_cases_by_department(conn)
        for department, n in counts.items():
            self.metrics.open_cases.labels(department).set(n)
        for department in set(self.rules.current().departments) - set(counts):
            self.metrics.open_cases.labels(department).set(0)


async def _openapi(_: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of the case API (kept in services/route/api/openapi.yaml)."""
    return web.json_response(load_openapi())


def load_openapi() -> dict[str, Any]:
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("services.route").joinpath("api", "openapi.yaml").read_text())


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(RouteSettings)
    logconf.configure("route", settings.log_level)
    return run(RouteService(settings), gc_tuning=settings.gc_tuning)
