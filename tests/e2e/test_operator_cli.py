"""The operator CLI against the running stack: cases list/show, topics describe, deadletter list/replay."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys

import aiohttp
import asyncpg
import pytest

from services.common.envelope import Event
from services.common.timeutil import utcnow
from services.common.topics import MENTIONS_RAW, EventType
from services.ingest.channels.generic import parse_generic_mention
from tests.brokers import on_kafka
from tests.e2e.conftest import Stack
from tests.support import mention_body, produce, wait_for

pytestmark = pytest.mark.e2e


async def heatdesk(stack: Stack, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    if env is None:
        env = {**os.environ, "DATABASE_URL": stack.database, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.cli", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cases_list_and_show(stack: Stack):
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url("ingest", "/v1/mentions"),
                             json=mention_body("cli-1", "my invoice shows a late fee twice", author_id="cli-a")) as r:
            mention_id = (await r.json())["id"]
    conn = await asyncpg.connect(stack.database)
    try:
        case_id = await wait_for(lambda: conn.fetchval("SELECT case_id::text FROM mentions WHERE id = $1", mention_id))
    finally:
        await conn.close()
    code, out, _ = await heatdesk(stack, "cases", "list", "--json", "--limit", "200")
    assert code == 0 and case_id in {c["id"] for c in json.loads(out)}
    code, out, _ = await heatdesk(stack, "cases", "list", "--status", "open")
    assert code == 0 and case_id in out and out.splitlines()[0].split()[:3] == ["id", "status", "department"]
    code, out, _ = await heatdesk(stack, "cases", "show", case_id)
    assert code == 0 and "mentions (1)" in out and "late fee" in out
    code, _, err = await heatdesk(stack, "cases", "show", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and "no case" in err


async def _routed_case(stack: Stack, external_id: str, text: str, author: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url("ingest", "/v1/mentions"),
                             json=mention_body(external_id, text, author_id=author)) as r:
            mention_id = (await r.json())["id"]
    conn = await asyncpg.connect(stack.database)
    try:
        return await wait_for(lambda: conn.fetchval("SELECT case_id::text FROM mentions WHERE id = $1", mention_id))
    finally:
        await conn.close()


async def test_cases_show_prints_the_text_of_responses(stack: Stack):
    case_id = await _routed_case(stack, "cli-r1", "I was billed twice for my plan", "cli-r")
    reply = "Sorry about that, please DM us the email on your account"
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url("route", f"/v1/cases/{case_id}/responses"),
                             json={"author": {"id": "agent-7", "name": "Sam"}, "text": reply, "public": True}) as r:
            assert r.status < 300, await r.text()
    code, out, _ = await heatdesk(stack, "cases", "show", case_id)
    assert code == 0, out
    section = out.split("responses (1)\n", 1)[1].splitlines()
    assert section[0].split() == ["created_at", "kind", "author", "reply", "text"]
    assert reply in section[2] and "public" in section[2]


async def test_cases_without_database_url_read_the_running_dev_stacks_database(stack: Stack, tmp_path):
    """`heatdesk dev` records its database in <state dir>/dev.json; a second terminal's CLI reads it."""
    case_id = await _routed_case(stack, "cli-d1", "the app logs me out every hour", "cli-d")
    (tmp_path / "dev.json").write_text(json.dumps({"pid": os.getpid(), "database_url": stack.database,
                                                   "kafka_bootstrap_servers": stack.bootstrap}))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env["HEATDESK_DEV_STATE_DIR"] = str(tmp_path)
    code, out, err = await heatdesk(stack, "cases", "list", "--json", "--limit", "200", env=env)
    assert code == 0, err
    assert case_id in {c["id"] for c in json.loads(out)}
    assert "using the running dev stack's database" in err and "dev.json" not in out
    code, out, _ = await heatdesk(stack, "topics", "describe", "--json", env=env)
    assert code == 0 and MENTIONS_RAW in {r["topic"] for r in json.loads(out)}
    # An explicit DATABASE_URL wins over the state folder.
    code, _, err = await heatdesk(stack, "cases", "list", env={**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"})
    assert code == 1 and err.strip().count("\n") == 0 and "Traceback" not in err


async def test_deadletter_list_and_replay_of_a_fixed_record(stack: Stack, tmp_path):
    good = parse_generic_mention(mention_body("dlq-1", "the app crashes when I pay", author_id="cli-b"), utcnow())
    event = Event(type=EventType.MENTION_RECEIVED, source="test", data=good, key="x:cli-b", subject=good["id"])
    await produce(stack.bootstrap, MENTIONS_RAW, [(b"x:cli-b", b'{"channel": "x", "oops', event.headers())])

    async def listed() -> list[dict]:
        code, out, _ = await heatdesk(stack, "deadletter", "list", "--json")
        return [d for d in json.loads(out) if d["reason"] == "invalid_json"] if code == 0 else []

    letters = await wait_for(listed, timeout=30, interval=1.0)
    letter = letters[-1]
    assert letter["stage"] == "classify" and letter["source"].startswith(f"{MENTIONS_RAW}/")
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(event.body())
    code, out, _ = await heatdesk(stack, "deadletter", "replay", "--partition", str(letter["partition"]),
                                  "--offset", str(letter["offset"]), "--file", str(fixed))
    assert code == 0 and MENTIONS_RAW in out
    conn = await asyncpg.connect(stack.database)
    try:
        await wait_for(lambda: conn.fetchval("SELECT count(*) FROM mentions WHERE id = $1", good["id"]), timeout=30)
    finally:
        await conn.close()
    code, _, err = await heatdesk(stack, "deadletter", "replay", "--partition", "0", "--offset", "999999")
    assert code == 1 and "no dead letter" in err


async def test_topics_describe(stack: Stack):
    code, out, _ = await heatdesk(stack, "topics", "describe", "--json")
    rows = {r["topic"]: r for r in json.loads(out)}
    assert code == 0 and rows[MENTIONS_RAW]["partitions"] == (12 if on_kafka() else 4)  # Strimzi's, or `heatdesk topics`'
    assert all(r["lag_exact"] is on_kafka() for r in rows.values())
    assert "heatdesk-classify" in rows[MENTIONS_RAW]["lag"] and "heatdesk-route" in rows["mentions.classified.v1"]["lag"]
    code, out, _ = await heatdesk(stack, "topics", "describe")
    assert code == 0 and "lag by group" in out.splitlines()[0]


async def test_the_readme_example_subscriber_follows_billing_cases(stack: Stack):
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url("ingest", "/v1/mentions"),
                             json=mention_body("sub-1", "you billed me twice for one invoice", author_id="sub-a")):
            pass
    example = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "examples", "billing_subscriber.py")
    proc = await asyncio.create_subprocess_exec(sys.executable, example, "--bootstrap", stack.bootstrap,
                                                "--max-events", "1", stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    line = out.decode().strip()
    assert proc.returncode == 0
    assert re.fullmatch(r"routed\s+case [0-9a-f-]{36} \[(critical|high|normal|low)\] (open|pending|resolved), "
                        r"(opened|added): '.+'", line), line
