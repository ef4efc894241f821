"""The route service: `mentions.classified.v1` → cases in PostgreSQL → case topics.

For each batch: one database transaction threads every mention into a case and writes
the events to the outbox; after the commit the outbox is flushed to
`cases.<department>.v1` and `cases.events.v1`; only then are the offsets committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

from services.common import settings as settings_loader
from services.common.consumer_loop import Incoming
from services.common.consumer_service import ConsumerService, every
from services.common.errors import PoisonRecord
from services.common.outbox import enqueue
from services.common.sla import validate_targets
from services.common.timeutil import parse_rfc3339, utcnow
from services.common.topics import DEPARTMENTS, MENTIONS_CLASSIFIED, EventType
from services.route.cases import RouteResult, open_cases_by_department, route_mention
from services.route.settings import RouteSettings

log = logging.getLogger(__name__)


def _check(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
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
        if classification["priority"]["bucket"] not in ("critical", "high", "normal", "low"):
            raise PoisonRecord("schema_violation", "unknown priority bucket")
        int(classification["priority"]["score"])
        if classification["department"] not in DEPARTMENTS:
            raise PoisonRecord("unknown_department", str(classification["department"])[:100])
    except (KeyError, TypeError, ValueError) as exc:
        raise PoisonRecord("schema_violation", f"{type(exc).__name__}: {exc}") from exc
    return mention, classification


class RouteService(ConsumerService):
    name = "route"
    topics = (MENTIONS_CLASSIFIED,)
    expected_types = frozenset({EventType.MENTION_CLASSIFIED})
    uses_database = True

    def __init__(self, settings: RouteSettings) -> None:
        super().__init__(settings, settings.route_group_id, settings.route_port)
        self.settings: RouteSettings = settings
        self.targets = validate_targets(settings.sla_first_response_targets)
        self.window = timedelta(seconds=settings.route_thread_window_s)

    def extra_tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [every(stop, self.settings.route_open_cases_refresh_s, self.refresh_open_cases, log)]

    async def handle(self, batch: Sequence[Incoming]) -> None:
        assert self.pool is not None and self.relay is not None
        parsed = [_check(item.event.data) for item in batch]
        results: list[RouteResult] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for mention, classification in parsed:
                results.append(await route_mention(conn, mention, classification,
                                                   targets=self.targets, window=self.window))
            await enqueue(conn, self.name, [e for r in results for e in r.events])
        await self.relay.flush()
        now = utcnow()
        for (mention, _), result in zip(parsed, results, strict=True):
            self.metrics.mentions_routed.labels(result.department, result.outcome).inc()
            if result.outcome == "opened":
                self.metrics.cases_opened.labels(result.department, result.priority).inc()
            if result.outcome != "duplicate":
                latency = (now - parse_rfc3339(mention["received_at"])).total_seconds()
                self.metrics.pipeline_latency.labels("route").observe(max(0.0, latency))

    async def refresh_open_cases(self) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            counts = await open_cases_by_department(conn)
        for department, n in counts.items():
            self.metrics.open_cases.labels(department).set(n)


def main() -> int:
    from services.common import log as logconf
    from services.common.runtime import run

    settings = settings_loader.load(RouteSettings)
    logconf.configure("route", settings.log_level)
    return run(RouteService(settings))
