"""Traffic and receivers for the fault tests.

- `mentions(n, authors)`: `n` generic mention bodies from `authors` customers (so cases
  thread several mentions each), complaint texts that make every case owe an answer;
- `Poster`: posts them to ingest the way a platform delivers webhooks: a bounded number in
  flight, at a bounded rate, and retrying until it gets a 2xx - after a 503 or 429 it waits
  the `Retry-After` it was given, after a refused or reset connection (ingest killed) a
  moment. It records what every mention was answered, so "lost" means: answered 202, and
  yet not in the database at the end;
- `WebhookSink`: a webhook receiver in its own thread that records every call with its
  `Idempotency-Key`, optionally slowly or failing its first calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp

from services.common.embedded import free_port
from services.common.timeutil import format_rfc3339, utcnow

TEXTS = (
    "@acme you charged me twice this month, refund me now",
    "my order never arrived and nobody answers the phone",
    "the app crashes every time I open my account page",
    "still waiting for my refund, this is the third time I ask",
    "your support line hung up on me again, terrible service",
    "the delivery was late and the box was damaged",
    "I was billed for a plan I cancelled last month",
    "login keeps failing after the update, fix it please",
)


def mentions(n: int, authors: int, prefix: str) -> list[dict[str, Any]]:
    """`n` mentions, round-robin over `authors` customers, each with a unique external id."""
    out = []
    for i in range(n):
        author = f"{prefix}-a{i % authors}"
        out.append({"channel": "x", "external_id": f"{prefix}-{i}", "text": f"{TEXTS[i % len(TEXTS)]} #{i}",
                    "author": {"id": author, "handle": f"@{author}", "name": "Fault Customer", "followers": 100,
                               "verified": False},
                    "created_at": ""})  # stamped when posted: the SLA clock starts at the post
    return out


@dataclasses.dataclass
class Outcome:
    external_id: str
    mention_id: str | None = None
    accepted_at: float | None = None
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    connection_errors: int = 0
    retry_after: list[str] = dataclasses.field(default_factory=list)


class Poster:
    """Posts mentions to ingest until each is accepted; `outcomes` says how each went."""

    def __init__(self, base_url: Callable[[], str], bodies: list[dict[str, Any]], *, concurrency: int = 16,
                 rate_per_s: float = 0.0, give_up_s: float = 180.0) -> None:
        self.base_url = base_url
        self.bodies = bodies
        self.concurrency = concurrency
        self.rate_per_s = rate_per_s
        self.give_up_s = give_up_s
        self.outcomes: dict[str, Outcome] = {}  # the mentions posted so far (all of them once it is done)
        self.accepted = 0
        self._stopping = False
        self.log: list[tuple[float, int]] = []  # (monotonic time, status or 0 for a connection error)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Poster:
        self._task = asyncio.create_task(self.run())
        return self

    def stop(self) -> None:
        """Post no further mentions; those already being posted are posted until accepted."""
        self._stopping = True

    async def wait(self, timeout: float = 300.0) -> None:
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout)

    async def wait_accepted(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.accepted < n:
            if self._task is not None and self._task.done():
                self._task.result()
                raise AssertionError(f"poster finished with {self.accepted} accepted, waited for {n}")
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.accepted} of {n} accepted within {timeout}s")
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        started = time.monotonic()
        for body in self.bodies:
            queue.put_nowait(body)
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as http:
            async def worker() -> None:
                while not queue.empty() and not self._stopping:
                    body = queue.get_nowait()
                    if self.rate_per_s:
                        index = int(body["external_id"].rsplit("-", 1)[1])
                        delay = started + index / self.rate_per_s - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        if self._stopping:
                            return
                    await self._post_until_accepted(http, body)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def _post_until_accepted(self, http: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        outcome = self.outcomes[body["external_id"]] = Outcome(body["external_id"])
        deadline = time.monotonic() + self.give_up_s
        body = {**body, "created_at": format_rfc3339(utcnow())}
        while time.monotonic() < deadline:
            try:
                async with http.post(self.base_url() + "/v1/mentions", json=body) as resp:
                    outcome.statuses[resp.status] += 1
                    self.log.append((time.monotonic(), resp.status))
                    if resp.status == 202:
                        outcome.mention_id = (await resp.json())["id"]
                        outcome.accepted_at = time.monotonic()
                        self.accepted += 1
                        return
                    retry_after = resp.headers.get("Retry-After")
                    if resp.status in (429, 503):
                        assert retry_after is not None, f"{resp.status} without Retry-After"
                        outcome.retry_after.append(retry_after)
                        await asyncio.sleep(float(retry_after))
                        continue
                    raise AssertionError(f"{body['external_id']}: unexpected {resp.status}: {await resp.text()}")
            except (aiohttp.ClientConnectionError, TimeoutError):
                outcome.connection_errors += 1
                self.log.append((time.monotonic(), 0))
                await asyncio.sleep(0.2)
        raise AssertionError(f"{body['external_id']} not accepted within {self.give_up_s}s")

    def accepted_ids(self) -> dict[str, str]:
        return {o.external_id: o.mention_id for o in self.outcomes.values() if o.mention_id is not None}

    def statuses(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for o in self.outcomes.values():
            total.update(o.statuses)
        return total


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that closes its keep-alive connection is not an error of the receiver


@dataclasses.dataclass
class Call:
    at: float
    key: str
    body: dict[str, Any]


class WebhookSink:
    """A Slack-compatible webhook receiver in a thread; `calls` are the requests it answered 2xx.

    `delay_s` answers every call that late (a slow target); `fail_first` answers the first
    N calls with 500 (they are counted in `refused`, not in `calls`).
    """

    def __init__(self, delay_s: float = 0.0, fail_first: int = 0) -> None:
        self.port = free_port()
        self.delay_s = delay_s
        self.fail_first = fail_first
        self.calls: list[Call] = []
        self.refused: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(c.key for c in self.calls)

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                call = Call(time.monotonic(), self.headers.get("Idempotency-Key", ""), json.loads(self.rfile.read(length)))
                with sink._lock:
                    sink.in_flight += 1
                    sink.max_in_flight = max(sink.max_in_flight, sink.in_flight)
                    refuse = sink.fail_first > 0
                    if refuse:
                        sink.fail_first -= 1
                try:
                    if sink.delay_s:
                        time.sleep(sink.delay_s)
                    status = 500 if refuse else 200
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with sink._lock:
                        sink.in_flight -= 1
                        (sink.refused if refuse else sink.calls).append(call)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a fixed loopback port, started when the test says so."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.keys: Counter[str] = Counter()
        self.recipients: Counter[str] = Counter()
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        import email
        import email.policy

        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.keys[str(message["X-Heatdesk-Idempotency-Key"])] += 1
        self.recipients.update(envelope.rcpt_tos)
        return "250 OK"

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
