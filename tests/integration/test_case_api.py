"""The case API against the real database: filters, pagination, scopes, actions, errors, OpenAPI."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import CASE_EVENTS, MENTIONS_CLASSIFIED, EventType
from services.route.app import RouteService, load_openapi
from services.route.playbook import check_reply
from services.route.settings import RouteSettings
from tests.integration.test_route import classified_event
from tests.support import Running, events, produce_events, read_topic, validate_event, wait_for

pytestmark = pytest.mark.integration
ADMIN = "admin-token-0123456789abcdef"
BILLING = "billing-token-0123456789abcdef"
PR = "pr-token-0123456789abcdef-xyz"
TEXTS = {
    "billing": "you charged me twice for my subscription, refund me now",
    "product": "the app keeps crashing every time I open it, terrible",
    "support": "my parcel never arrived and nobody answers the phone",
}


def _service(service_env: dict[str, str]) -> RouteService:
    env = {**service_env, "HEATDESK_ROUTE_PORT": str(free_port()),
           "HEATDESK_ROUTE_API_TOKENS": f"*:{ADMIN},billing:{BILLING},pr:{PR}",
           "HEATDESK_SLA_FIRST_RESPONSE_TARGETS": "critical=3600,high=3600,normal=3600,low=3600"}
    return RouteService(loader.load(RouteSettings, env))


@pytest.fixture
async def seeded(service_env, broker, db):
    """A running route with 12 cases over three departments, opened at different times."""
    t0 = utcnow() - timedelta(minutes=100)  # due 1 h after each post: some breached, some still due
    evs = []
    for i in range(12):
        department = list(TEXTS)[i % 3]
        evs.append(classified_event(f"api-{i}", TEXTS[department], author_id=f"cust-{i}",
                                    created_at=format_rfc3339(t0 + timedelta(minutes=7 * i)),
                                    channel="x" if i % 2 else "facebook"))
    svc = _service(service_env)
    async with Running(svc):
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, evs)
        await wait_for(lambda: db.fetchval("SELECT count(*) = 12 FROM cases"), timeout=30)
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{svc.settings.route_port}") as http:
            yield svc, http


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get(http, path: str, token: str = ADMIN, **params):
    async with http.get(path, params=params, headers=auth(token)) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_list_filters_and_sla_state(seeded, db):
    _, http = seeded
    status, body = await get(http, "/v1/cases", limit="200")
    assert status == 200 and len(body["cases"]) == 12 and body["next_cursor"] is None
    dues = [c["first_response_due_at"] for c in body["cases"]]
    assert dues == sorted(dues)  # sorted by SLA due time
    expected = {d: await db.fetchval("SELECT count(*) FROM cases WHERE $1 = ANY(departments)", d) for d in TEXTS}
    for department, n in expected.items():
        _, page = await get(http, "/v1/cases", department=department)
        assert len(page["cases"]) == n and all(department in c["departments"] for c in page["cases"])
    _, facebook = await get(http, "/v1/cases", channel="facebook")
    assert {c["channel"] for c in facebook["cases"]} == {"facebook"} and len(facebook["cases"]) == 6
    _, one = await get(http, "/v1/cases", author="cust-5")
    assert [c["author_id"] for c in one["cases"]] == ["cust-5"]
    seventh = await db.fetchval("SELECT opened_at FROM cases ORDER BY opened_at OFFSET 6 LIMIT 1")
    _, late = await get(http, "/v1/cases", opened_after=format_rfc3339(seventh))
    assert len(late["cases"]) == 6
    # Every case was due 1 h after its post: the earliest ones are breached, the latest still due.
    _, breached = await get(http, "/v1/cases", sla_state="breached")
    _, due = await get(http, "/v1/cases", sla_state="due")
    assert len(breached["cases"]) + len(due["cases"]) == 12 and breached["cases"] and due["cases"]
    _, pending = await get(http, "/v1/cases", status="pending,resolved")
    assert pending["cases"] == []


@pytest.mark.parametrize("sort", ["due", "-opened_at"])
async def test_keyset_pagination_visits_every_case_once(seeded, sort):
    _, http = seeded
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "5", "sort": sort, **({"cursor": cursor} if cursor else {})}
        status, body = await get(http, "/v1/cases", **params)
        assert status == 200
        seen += [c["id"] for c in body["cases"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 12 and len(set(seen)) == 12
    _, all_at_once = await get(http, "/v1/cases", limit="200", sort=sort)
    assert seen == [c["id"] for c in all_at_once["cases"]]


async def test_scopes(seeded, db):
    _, http = seeded
    _, billing = await get(http, "/v1/cases", token=BILLING, limit="200")
    assert billing["cases"] and all("billing" in c["departments"] for c in billing["cases"])
    status, problem = await get(http, "/v1/cases", token=BILLING, department="product")
    assert status == 403 and problem["type"].endswith("out-of-scope")
    product_case = await db.fetchval("SELECT id::text FROM cases WHERE department = 'product' LIMIT 1")
    status, _ = await get(http, f"/v1/cases/{product_case}", token=BILLING)
    assert status == 404  # not 403: a token cannot probe for other departments' case ids
    status, _ = await get(http, f"/v1/cases/{product_case}", token=PR)
    assert status == 404
    async with http.get("/v1/cases") as resp:
        assert resp.status == 401 and resp.content_type == "application/problem+json"
    async with http.post(f"/v1/cases/{product_case}/assign", json={"assignee": "x"}, headers=auth(BILLING)) as resp:
        assert resp.status == 404


@pytest.mark.parametrize("params,pointer", [
    ({"limit": "0"}, "/query/limit"), ({"limit": "many"}, "/query/limit"), ({"status": "closed"}, "/query/status"),
    ({"priority": "urgent"}, "/query/priority"), ({"sla_state": "late"}, "/query/sla_state"),
    ({"sort": "name"}, "/query/sort"), ({"cursor": "not-a-cursor"}, "/query/cursor"),
    ({"opened_after": "yesterday"}, "/query/opened_after"), ({"department": "marketing"}, "/query/department"),
    ({"colour": "red"}, "/query/colour"),
])
async def test_bad_parameters_are_400_problems(seeded, params, pointer):
    _, http = seeded
    status, problem = await get(http, "/v1/cases", **params)
    assert status == 400 and problem["errors"][0]["pointer"] == pointer


async def test_show_and_actions(seeded, db, broker):
    _, http = seeded
    case_id = await db.fetchval("SELECT id::text FROM cases WHERE department = 'billing' ORDER BY opened_at LIMIT 1")
    status, case = await get(http, f"/v1/cases/{case_id}")
    assert status == 200 and len(case["mentions"]) == 1 and case["events"][0]["type"] == EventType.CASE_OPENED
    assert case["suggested_reply"]["kind"] == "first_reply"
    assert not check_reply(case["suggested_reply"]["text"], public=True, limit=case["suggested_reply"]["limit"],
                           complaint=True, brand="Acme", name=case["author_name"] or case["author_handle"])
    reply = {"author": {"id": "agent-7", "name": "Kim"}, "text": "Hi, sorry! Please DM us.", "public": True}
    url = f"/v1/cases/{case_id}/responses"
    async with http.post(url, json=reply, headers={**auth(ADMIN), "Idempotency-Key": "k1"}) as resp:
        first = await resp.json()
    async with http.post(url, json=reply, headers={**auth(ADMIN), "Idempotency-Key": "k1"}) as resp:
        again = await resp.json()
    assert first["applied"] is True and again["applied"] is False and first["response_id"] == again["response_id"]
    assert first["case"]["status"] == "pending" and first["case"]["first_response_at"] is not None
    async with http.post(f"/v1/cases/{case_id}/reopen", json={"author": {"id": "agent-7"}}, headers=auth(ADMIN)) as r:
        assert r.status == 409
    async with http.post(f"/v1/cases/{case_id}/resolve", json={"author": {"id": "agent-7"}}, headers=auth(BILLING)) as r:
        assert r.status == 200 and (await r.json())["case"]["status"] == "resolved"
    async with http.post(f"/v1/cases/{case_id}/resolve", json={"author": {"id": "agent-7"}}, headers=auth(ADMIN)) as r:
        assert r.status == 409
    status, closing = await get(http, f"/v1/cases/{case_id}/suggestion")
    assert closing["kind"] == "closure"
    async with http.post(f"/v1/cases/{case_id}/reopen", json={"author": {"id": "agent-7"}}, headers=auth(ADMIN)) as r:
        assert r.status == 200 and (await r.json())["case"]["status"] == "open"
    async with http.post(f"/v1/cases/{case_id}/assign", json={"assignee": "team-billing"}, headers=auth(ADMIN)) as r:
        assert (await r.json())["case"]["assignee"] == "team-billing"
    out = events(await read_topic(broker.bootstrap, CASE_EVENTS, until=lambda rs: sum(
        1 for e in events(rs) if e.subject == case_id) >= 5))
    mine = [e for e in out if e.subject == case_id]
    assert [e.type for e in mine] == [EventType.CASE_OPENED, EventType.CASE_RESPONDED, EventType.CASE_RESOLVED,
                                      EventType.CASE_REOPENED, EventType.CASE_ASSIGNED]
    for e in mine:
        validate_event(e)


@pytest.mark.parametrize("path,body,content_type,status", [
    ("responses", b"{}", "application/json", 422), ("responses", b"nope", "application/json", 400),
    ("responses", b"{}", "text/plain", 415), ("assign", b'{"assignee": ""}', "application/json", 422),
    ("responses", b"[1]", "application/json", 422),
])
async def test_action_errors(seeded, db, path, body, content_type, status):
    _, http = seeded
    case_id = await db.fetchval("SELECT id::text FROM cases LIMIT 1")
    async with http.post(f"/v1/cases/{case_id}/{path}", data=body,
                         headers={**auth(ADMIN), "Content-Type": content_type}) as resp:
        assert resp.status == status and resp.content_type == "application/problem+json"
    async with http.post("/v1/cases/00000000-0000-0000-0000-000000000000/assign", json={"assignee": "a"},
                         headers=auth(ADMIN)) as resp:
        assert resp.status == 404


async def test_openapi_document_matches_the_routes(seeded):
    svc, http = seeded
    async with http.get("/openapi.json") as resp:
        assert await resp.json() == load_openapi()
    served = {(r.method.lower(), r.resource.canonical) for r in svc.http.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/v1/") and r.method != "HEAD"}
    documented = {(method, path) for path, item in load_openapi()["paths"].items() for method in item}
    assert served == documented


async def test_schemathesis_finds_no_server_error(seeded):
    svc, _ = seeded
    st = Path(sys.executable).with_name("st")
    # The server runs in this event loop: the fuzzer must not block it.
    proc = await asyncio.create_subprocess_exec(
        str(st), "run", f"http://127.0.0.1:{svc.settings.route_port}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "25", "--phases", "examples,coverage,fuzzing",
        "-H", f"Authorization: Bearer {ADMIN}", "--workers", "1", "--no-color",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, output.decode()[-3000:]
