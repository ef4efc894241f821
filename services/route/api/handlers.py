"""HTTP handlers of the case API (same port as route's /metrics).

Token authentication with department scopes (`HEATDESK_ROUTE_API_TOKENS`,
`billing:<token>,*:<token>`): a department token sees and acts on the cases of its
department only - another department's case is a 404, not a 403, so a token cannot probe
for case ids. Every error is RFC 9457 problem+json.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from services.common.auth import token_source
from services.common.problem import problem
from services.common.timeutil import parse_rfc3339, utcnow
from services.route import store
from services.route.api import actions
from services.route.api.queries import SLA_STATES, SORTS, BadCursor, CaseFilter, get_case, list_cases
from services.route.playbook import Playbook
from services.route.state import PRIORITY_RANK

log = logging.getLogger(__name__)
STATUSES = ("open", "pending", "resolved")
MAX_LIMIT = 200


class ApiError(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _bad(detail: str, pointer: str) -> ApiError:
    return ApiError(problem(400, "invalid-parameter", "Invalid parameter", detail, errors=[{"pointer": pointer,
                                                                                            "detail": detail}]))


def _json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, content_type="application/json", body=orjson.dumps(body))


class CaseApi:
    def __init__(self, pool: Callable[[], asyncpg.Pool | None], tokens: dict[str, str], departments: Callable[[], tuple[str, ...]],
                 publish: Callable[[asyncpg.Connection, list[Any]], Awaitable[None]],
                 flush: Callable[[], Awaitable[int]], playbook: Playbook) -> None:
        self._pool = pool
        self.tokens = tokens
        self.departments = departments
        self.publish = publish
        self.flush = flush
        self.playbook = playbook

    def register(self, app: web.Application) -> None:
        app.router.add_get("/v1/cases", self._wrap(self.list))
        app.router.add_get("/v1/cases/{case_id}", self._wrap(self.show))
        app.router.add_get("/v1/cases/{case_id}/suggestion", self._wrap(self.suggestion))
        app.router.add_post("/v1/cases/{case_id}/responses", self._wrap(self.respond("reply")))
        app.router.add_post("/v1/cases/{case_id}/resolve", self._wrap(self.respond("resolution")))
        app.router.add_post("/v1/cases/{case_id}/reopen", self._wrap(self.respond("reopen")))
        app.router.add_post("/v1/cases/{case_id}/assign", self._wrap(self.assign))

    def _wrap(self, handler: Callable[[web.Request, str | None], Awaitable[web.Response]]
              ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return await handler(request, self._scope(request))
            except ApiError as exc:
                return exc.response

        wrapped.__name__ = handler.__name__
        return wrapped

    def _scope(self, request: web.Request) -> str | None:
        """None = every department; else the token's department. 401 without a valid token."""
        if not self.tokens:
            return None
        source = token_source(request.headers.get("Authorization"), self.tokens)
        if source is None:
            raise ApiError(problem(401, "unauthorized", "Missing or invalid token",
                                   "Send Authorization: Bearer <token> issued for your department.",
                                   headers={"WWW-Authenticate": 'Bearer realm="heatdesk-cases"'}))
        return None if source == "*" else source

    def _pool_or_503(self) -> asyncpg.Pool:
        pool = self._pool()
        if pool is None:
            raise ApiError(problem(503, "not-ready", "The case store is not connected yet", headers={"Retry-After": "1"}))
        return pool

    @staticmethod
    def _case_id(request: web.Request) -> str:
        try:
            return str(uuid.UUID(request.match_info["case_id"]))
        except ValueError:
            raise ApiError(problem(404, "case-not-found", "No such case")) from None

    def _filter(self, request: web.Request, scope: str | None) -> CaseFilter:
        q = request.query
        unknown = set(q) - {"status", "department", "priority", "channel", "sla_state", "author", "opened_after",
                            "opened_before", "limit", "cursor", "sort"}
        if unknown:
            name = sorted(unknown)[0]
            raise _bad(f"unknown parameter {name!r}", f"/query/{name}")

        def listed(name: str, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
            values = tuple(v for raw in q.getall(name, []) for v in raw.split(",") if v)
            for v in values:
                if allowed is not None and v not in allowed:
                    raise _bad(f"{name} must be one of {', '.join(allowed)}", f"/query/{name}")
            return values

        def when(name: str) -> datetime | None:
            if name not in q:
                return None
            try:
                return parse_rfc3339(q[name])
            except ValueError as exc:
                raise _bad(f"{name}: {exc}", f"/query/{name}") from exc

        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            raise _bad("limit must be an integer", "/query/limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise _bad(f"limit must be between 1 and {MAX_LIMIT}", "/query/limit")
        department = q.get("department")
        if department is not None and department not in self.departments():
            raise _bad(f"department must be one of {', '.join(self.departments())}", "/query/department")
        if scope is not None and department is not None and department != scope:
            raise ApiError(problem(403, "out-of-scope", "Your token covers another department",
                                   f"This token may read {scope} cases only."))
        sla_state = q.get("sla_state")
        if sla_state is not None and sla_state not in SLA_STATES:
            raise _bad(f"sla_state must be one of {', '.join(SLA_STATES)}", "/query/sla_state")
        sort = q.get("sort", "due")
        if sort not in SORTS:
            raise _bad(f"sort must be one of {', '.join(SORTS)}", "/query/sort")
        return CaseFilter(status=listed("status", STATUSES), department=department,
                          priority=listed("priority", tuple(PRIORITY_RANK)), channel=listed("channel", None),
                          sla_state=sla_state, author=q.get("author"), opened_after=when("opened_after"),
                          opened_before=when("opened_before"), scope=scope, sort=sort, limit=limit)

    async def list(self, request: web.Request, scope: str | None) -> web.Response:
        f = self._filter(request, scope)
        async with self._pool_or_503().acquire() as conn:
            try:
                cases, cursor = await list_cases(conn, f, request.query.get("cursor"), utcnow())
            except BadCursor as exc:
                raise _bad(str(exc), "/query/cursor") from exc
        return _json_response({"cases": cases, "next_cursor": cursor})

    async def show(self, request: web.Request, scope: str | None) -> web.Response:
        case_id = self._case_id(request)
        async with self._pool_or_503().acquire() as conn:
            case = await get_case(conn, case_id, scope, utcnow())
        if case is None:
            raise ApiError(problem(404, "case-not-found", "No such case"))
        case["suggested_reply"] = self.playbook.suggest(case)
        return _json_response(case)

    async def suggestion(self, request: web.Request, scope: str | None) -> web.Response:
        case_id = self._case_id(request)
        async with self._pool_or_503().acquire() as conn:
            case = await get_case(conn, case_id, scope, utcnow())
        if case is None:
            raise ApiError(problem(404, "case-not-found", "No such case"))
        return _json_response(self.playbook.suggest(case))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise ApiError(problem(415, "unsupported-media-type", "Send application/json"))
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise ApiError(problem(400, "invalid-json", "Body is not valid JSON", str(exc))) from exc
        if not isinstance(body, dict):
            raise ApiError(problem(422, "invalid-body", "Body must be a JSON object",
                                   errors=[{"pointer": "", "detail": "expected an object"}]))
        if "\\u0000" in orjson.dumps(body).decode():  # orjson writes U+0000 as the escape \u0000
            raise ApiError(problem(422, "invalid-body", "Strings must not contain NUL characters",
                                   errors=[{"pointer": "", "detail": "PostgreSQL text cannot hold U+0000"}]))
        return body

    async def _locked_case(self, conn: asyncpg.Connection, case_id: str, scope: str | None) -> Any:
        cases = await store.load_cases(conn, [case_id], [], utcnow())
        if not cases or (scope is not None and scope not in cases[0].departments):
            raise ApiError(problem(404, "case-not-found", "No such case"))
        return cases[0]

    def respond(self, kind: str) -> Callable[[web.Request, str | None], Awaitable[web.Response]]:
        async def handler(request: web.Request, scope: str | None) -> web.Response:
            case_id = self._case_id(request)
            body = await self._body(request)
            errors = []
            author = body.get("author")
            if not isinstance(author, dict) or not isinstance(author.get("id"), str) or not author["id"].strip() \
                    or len(author["id"]) > 256:
                errors.append({"pointer": "/author/id", "detail": "is required: the agent's id, at most 256 characters"})
            elif "name" in author and not (author["name"] is None or isinstance(author["name"], str)):
                errors.append({"pointer": "/author/name", "detail": "must be a string"})
            text = body.get("text")
            if (kind == "reply" and not isinstance(text, str)) or (text is not None and not isinstance(text, str)):
                errors.append({"pointer": "/text", "detail": "is required for a reply and must be a string"})
            elif isinstance(text, str) and len(text) > 20_000:
                errors.append({"pointer": "/text", "detail": "must be at most 20000 characters"})
            key = request.headers.get("Idempotency-Key")
            if key is not None and len(key) > 200:
                errors.append({"pointer": "/headers/Idempotency-Key", "detail": "must be at most 200 characters"})
            for flag in ("public", "automated"):
                if flag in body and not isinstance(body[flag], bool):
                    errors.append({"pointer": f"/{flag}", "detail": "must be true or false"})
            at = utcnow()
            if "created_at" in body:
                try:
                    at = parse_rfc3339(body["created_at"])
                except (ValueError, TypeError) as exc:
                    errors.append({"pointer": "/created_at", "detail": str(exc)})
            if errors:
                raise ApiError(problem(422, "invalid-action", "The action is not valid", errors=errors))
            response_id = actions.action_id(case_id, kind, request.headers.get("Idempotency-Key"))
            async with self._pool_or_503().acquire() as conn, conn.transaction():
                case = await self._locked_case(conn, case_id, scope)
                if kind == "reopen" and case.status != "resolved":
                    raise ApiError(problem(409, "not-resolved", "Only a resolved case can be reopened"))
                if kind == "resolution" and case.status == "resolved":
                    raise ApiError(problem(409, "already-resolved", "The case is already resolved"))
                events, applied = await actions.respond(conn, case, kind, body, at, response_id)
                await self.publish(conn, events)
            await self.flush()
            async with self._pool_or_503().acquire() as conn:
                updated = await get_case(conn, case_id, scope, utcnow())
            # A repeated Idempotency-Key changes nothing and says so.
            return _json_response({"response_id": response_id, "applied": applied, "case": updated})

        handler.__name__ = f"respond_{kind}"
        return handler

    async def assign(self, request: web.Request, scope: str | None) -> web.Response:
        case_id = self._case_id(request)
        body = await self._body(request)
        assignee = body.get("assignee")
        if not isinstance(assignee, str) or not assignee.strip() or len(assignee) > 200:
            raise ApiError(problem(422, "invalid-action", "The action is not valid",
                                   errors=[{"pointer": "/assignee", "detail": "a non-empty string of at most 200"}]))
        async with self._pool_or_503().acquire() as conn, conn.transaction():
            case = await self._locked_case(conn, case_id, scope)
            author = await conn.fetchrow(f"SELECT {store.AUTHOR_COLUMNS} FROM authors WHERE id = $1", case.author_id)
            events = await actions.assign(conn, case, assignee.strip(), utcnow(), dict(author))
            await self.publish(conn, events)
        await self.flush()
        async with self._pool_or_503().acquire() as conn:
            updated = await get_case(conn, case_id, scope, utcnow())
        return _json_response({"case": updated})
