"""Shared pieces of the notify integration tests (no tests here): receivers, events, services.

- `Receiver`: a real aiohttp webhook receiver that records raw bodies and headers and can
  answer chosen statuses first;
- `SmtpSink`: a real SMTP server (aiosmtpd) on loopback that keeps every message;
- `case_event`: case lifecycle events as route publishes them (schema case.lifecycle.v1);
- `notify`: a NotifyService on the test's broker and database with a ManualClock.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from aiosmtpd.controller import Controller

from services.common import settings as loader
from services.common.clock import Clock
from services.common.embedded import free_port
from services.common.envelope import Event
from services.common.timeutil import format_rfc3339
from services.notify.app import NotifyService
from services.notify.settings import NotifySettings
from tests.support import LocalServer, wait_for

OFFICE = Path(__file__).resolve().parents[1] / "data" / "sla" / "office.yaml"
AUTHOR = {"id": "cust-1", "handle": "@c", "name": "C", "followers": 10, "verified": False}


class Receiver(LocalServer):
    """A webhook receiver the test runs: records calls, can answer the first N with given statuses."""

    path = "/hook"

    def __init__(self, statuses: list[int] | None = None) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self.raw: list[tuple[bytes, dict[str, str]]] = []
        self.keys: list[str] = []
        self.statuses = list(statuses or [])

    @property
    def fail_first(self) -> int:
        return len(self.statuses)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.statuses:
            return web.Response(status=self.statuses.pop(0))
        self.raw.append((body, dict(request.headers)))
        self.calls.append(orjson.loads(body))
        self.keys.append(request.headers.get("Idempotency-Key", ""))
        return web.Response(text="ok")


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd); `messages` are parsed emails with their envelope."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def __enter__(self) -> SmtpSink:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.controller is not None
        self.controller.stop()


def case_snapshot(case_id: str, opened_at: datetime, **changes: Any) -> dict[str, Any]:
    base = {"id": case_id, "status": "open", "department": "billing", "priority": "high", "priority_score": 70,
            "channel": "x", "sla_policy": "default", "opened_at": format_rfc3339(opened_at),
            "last_mention_at": format_rfc3339(opened_at), "first_response_due_at": None, "first_response_at": None,
            "mention_count": 1, "author": AUTHOR, "tags": [], "public": True}
    return {**base, **changes}


def case_event(event_type: str, case_id: str, opened_at: datetime, at: datetime, *,
               response: dict[str, Any] | None = None, **changes: Any) -> Event:
    data: dict[str, Any] = {"case": case_snapshot(case_id, opened_at, **changes), "occurred_at": format_rfc3339(at)}
    if response is not None:
        data["response"] = response
    return Event(type=event_type, source="heatdesk/route", key=case_id, subject=case_id, data=data)


def human_reply(at: datetime, first: bool = False, kind: str = "reply", automated: bool = False) -> dict[str, Any]:
    from services.common.ids import uuid7

    return {"id": uuid7(), "kind": kind, "automated": automated, "public": True, "created_at": format_rfc3339(at),
            "author_id": "agent-7", "first": first}


class DrivenNotify(NotifyService):
    """notify without its periodic scanner, delivery and gauge loops: the test calls them when it wants."""

    def extra_tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [self.policies.watch(stop, self.settings.sla_policies_reload_s)]


def notify(service_env: dict[str, str], clock: Clock | None = None, **env: str) -> NotifyService:
    """A notify replica (consuming, relaying its outbox) whose scans and deliveries the test runs itself."""
    full = {**service_env, "HEATDESK_NOTIFY_PORT": str(free_port()), **env}
    return DrivenNotify(loader.load(NotifySettings, full), clock=clock)


async def applied(db: asyncpg.Connection, n: int, timeout: float = 20.0) -> None:
    """Wait until the consumers applied `n` distinct case events (rows of notify_events_seen)."""
    async def done() -> bool:
        return await db.fetchval("SELECT count(*) FROM notify_events_seen") >= n

    await wait_for(done, timeout=timeout)


async def steps(db: asyncpg.Connection) -> list[tuple[str, str, int, str]]:
    """Fired steps as (case id, clock, cycle, step), in firing order."""
    rows = await db.fetch("SELECT case_id::text, kind, cycle, step FROM sla_steps ORDER BY due_at, kind, step")
    return [tuple(r) for r in rows]  # type: ignore[misc]
