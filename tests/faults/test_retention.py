"""`heatdesk retention`: the raw payload is kept only in the database, and only for N days."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.ids import uuid7
from services.common.topics import MENTIONS_CLASSIFIED
from services.route.app import RouteService
from services.route.retention import empty_raw
from services.route.settings import RouteSettings
from tests.integration.test_route import classified_event
from tests.support import Running, produce_events, wait_for

pytestmark = pytest.mark.integration

#: The subcommand as `services/cli.py` wires it: `register(subparsers)`, then `args.run(args)`.
CLI = ("import argparse, sys\n"
       "from services.route.retention import register\n"
       "parser = argparse.ArgumentParser(prog='heatdesk')\n"
       "register(parser.add_subparsers(dest='command', required=True))\n"
       "args = parser.parse_args(sys.argv[1:])\n"
       "sys.exit(args.run(args))\n")


def heatdesk(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], env={"DATABASE_URL": database, "PATH": ""},
                          capture_output=True, text=True, timeout=60)


async def test_retention_empties_raw_payloads_older_than_n_days(service_env, broker, database, db):
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED,
                         [classified_event(f"ret-{i}", "refund me please", author_id=f"ret-{i}") for i in range(5)])
    async with Running(RouteService(loader.load(RouteSettings, {**service_env, "HEATDESK_ROUTE_PORT": str(free_port())}))):
        async def routed() -> bool:
            return await db.fetchval("SELECT count(*) FROM mentions") == 5

        await wait_for(routed, timeout=30)
    await db.execute("UPDATE mentions SET received_at = received_at - $1::interval WHERE external_id IN "
                     "('ret-0', 'ret-1', 'ret-2')", timedelta(days=40))
    await db.execute("""INSERT INTO responses (id, kind, channel, external_id, author_id, created_at, received_at, raw)
                        VALUES ($1, 'reply', 'x', 'old-reply', 'agent', now() - interval '41 days',
                                now() - interval '41 days', '{"text": "hi"}'),
                               ($2, 'reply', 'x', 'new-reply', 'agent', now(), now(), '{"text": "hi"}')""",
                     uuid7(), uuid7())

    dry = heatdesk(database, "retention", "--days", "30", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would empty the raw payload of 3 mentions, 1 responses" in dry.stdout
    assert await db.fetchval("SELECT count(*) FROM mentions WHERE raw IS NULL") == 0

    done = heatdesk(database, "retention", "--days", "30", "--batch", "2")  # two batches for the mentions
    assert done.returncode == 0, done.stderr
    assert "emptied the raw payload of 3 mentions, 1 responses received more than 30 days ago" in done.stdout
    rows = {r["external_id"]: r for r in await db.fetch("SELECT external_id, raw, text, case_id FROM mentions")}
    assert {k for k, r in rows.items() if r["raw"] is None} == {"ret-0", "ret-1", "ret-2"}
    assert all(r["text"] == "refund me please" and r["case_id"] for r in rows.values())  # the mention itself stays
    assert await db.fetchval("SELECT external_id FROM responses WHERE raw IS NULL") == "old-reply"

    again = heatdesk(database, "retention", "--days", "30")
    assert "emptied the raw payload of 0 mentions, 0 responses" in again.stdout
    assert (await empty_raw(db, 0, dry_run=True)).emptied == {"mentions": 2, "responses": 1}
    bad = heatdesk(database, "retention", "--days", "-1")
    assert bad.returncode != 0
