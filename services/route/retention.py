"""`heatdesk retention`: empty the raw source payloads older than N days.

The raw payload of a post (the platform's JSON, the whole email with its quoted history)
is kept as it came, for audits and re-processing, in one place only: route's `mentions.raw`
and `responses.raw` (department topics never carry it). It holds more personal data than
anything else Heatdesk stores, so it is kept for a bounded time: this job sets `raw` to
NULL for rows received more than `--days` days ago (`HEATDESK_RETENTION_RAW_DAYS`, default
30). The mention itself - text, classification, case - stays.

Run it daily (a Kubernetes CronJob running `heatdesk retention`). It works in batches of
`--batch` rows, each its own short transaction, so it never holds locks on many rows for
long and can be stopped and run again at any point; `--dry-run` only counts.
Exit codes: 0 done, 1 database unreachable, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
from typing import Any

import asyncpg

from services.common.errors import ConfigError

DEFAULT_DAYS = 30.0
TABLES = ("mentions", "responses")


@dataclasses.dataclass
class RetentionReport:
    days: float
    dry_run: bool
    emptied: dict[str, int] = dataclasses.field(default_factory=dict)

    def render(self) -> str:
        verb = "would empty" if self.dry_run else "emptied"
        counts = ", ".join(f"{n} {table}" for table, n in self.emptied.items())
        return f"retention: {verb} the raw payload of {counts} received more than {self.days:g} days ago"


async def empty_raw(conn: asyncpg.Connection, days: float, *, batch: int = 5000, dry_run: bool = False,
                    tables: tuple[str, ...] = TABLES) -> RetentionReport:
    """Set `raw` to NULL on rows of `tables` received more than `days` days ago; counts per table."""
    if days < 0:
        raise ConfigError("retention days must be zero or more")
    if batch < 1:
        raise ConfigError("retention batch must be at least 1")
    report = RetentionReport(days, dry_run)
    for table in tables:
        if table not in TABLES:
            raise ConfigError(f"no raw payload in table {table!r}")
        cutoff = "received_at < now() - make_interval(secs => $1::float8 * 86400)"
        if dry_run:
            report.emptied[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE raw IS NOT NULL AND {cutoff}", days)
            continue
        total = 0
        while True:
            done = await conn.fetchval(
                f"""WITH chosen AS (SELECT id FROM {table} WHERE raw IS NOT NULL AND {cutoff} LIMIT $2
                                      FOR UPDATE SKIP LOCKED),
                         emptied AS (UPDATE {table} t SET raw = NULL FROM chosen WHERE t.id = chosen.id RETURNING 1)
                    SELECT count(*) FROM emptied""", days, batch)
            total += done
            if done < batch:
                break
        report.emptied[table] = total
    return report


def _days_default() -> float:
    raw = os.environ.get("HEATDESK_RETENTION_RAW_DAYS")
    if raw is None:
        return DEFAULT_DAYS
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"HEATDESK_RETENTION_RAW_DAYS={raw!r} is not a number of days") from exc


def register(subparsers: Any) -> None:
    """Add `heatdesk retention` to the CLI's subparsers (dispatch: `run(args)` when command == "retention")."""
    r = subparsers.add_parser("retention", help="empty raw source payloads older than N days (run daily)")
    r.add_argument("--days", type=float, default=None,
                   help=f"keep raw payloads this many days (default HEATDESK_RETENTION_RAW_DAYS or {DEFAULT_DAYS:g})")
    r.add_argument("--batch", type=int, default=5000, help="rows per transaction (default 5000)")
    r.add_argument("--dry-run", action="store_true", help="count what would be emptied, change nothing")
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from services.common.db import connect
    from services.common.devstate import load_cli_settings

    settings = load_cli_settings()  # without DATABASE_URL: the running dev stack's database
    days = args.days if args.days is not None else _days_default()

    async def main() -> RetentionReport:
        conn = await connect(settings.database_url)
        try:
            return await empty_raw(conn, days, batch=args.batch, dry_run=args.dry_run)
        finally:
            await conn.close()

    report = asyncio.run(main())
    print(report.render())
    return 0
