"""`heatdesk cases list|show`: the case store from a terminal, through the case API's queries."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from services.common.ops import table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cases = sub.add_parser("cases", help="list and show cases (reads DATABASE_URL)")
    csub = cases.add_subparsers(dest="cases_command", required=True)
    ls = csub.add_parser("list", help="cases sorted by SLA due time")
    ls.add_argument("--status", help="open, pending, resolved (comma-separated)")
    ls.add_argument("--department")
    ls.add_argument("--priority", help="critical, high, normal, low (comma-separated)")
    ls.add_argument("--sla-state", choices=("breached", "due", "met", "none"))
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--json", action="store_true")
    show = csub.add_parser("show", help="one case with its mentions, events, responses and timers")
    show.add_argument("case_id")
    show.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from services.common.db import connect
    from services.common.devstate import load_cli_settings
    from services.common.timeutil import utcnow
    from services.route.api.queries import CaseFilter, get_case, list_cases

    # Without DATABASE_URL: the running `heatdesk dev` stack's database (.heatdesk/dev.json).
    settings = load_cli_settings()
    conn = await connect(settings.database_url)  # a failure is one line and an exit code (services/cli.py)
    try:
        if args.cases_command == "list":
            split = lambda v: tuple(x for x in (v or "").split(",") if x)  # noqa: E731
            f = CaseFilter(status=split(args.status), department=args.department, priority=split(args.priority),
                           sla_state=args.sla_state, limit=max(1, min(args.limit, 200)))
            cases, _ = await list_cases(conn, f, None, utcnow())
            if args.json:
                print(orjson.dumps(cases).decode())
            else:
                print(table([(c["id"], c["status"], c["department"], c["priority"], c["channel"], c["sla_state"],
                              c["first_response_due_at"], c["mention_count"], c["author_handle"] or c["author_id"])
                             for c in cases],
                            ("id", "status", "department", "priority", "channel", "sla", "due", "mentions", "author")))
            return 0
        case = await get_case(conn, args.case_id, None, utcnow())
        if case is None:
            print(f"heatdesk cases show: no case {args.case_id}", file=sys.stderr)
            return 1
        if args.json:
            print(orjson.dumps(case).decode())
            return 0
        _print_case(case)
        return 0
    finally:
        await conn.close()


def _print_case(case: dict[str, Any]) -> None:
    fields = ("id", "status", "department", "departments", "priority", "channel", "sla_policy", "sla_state",
              "opened_at", "first_response_due_at", "first_response_at", "resolved_at", "assignee", "tags", "flags")
    for name in fields:
        print(f"{name:<22} {case.get(name)}")
    print(f"\nmentions ({len(case['mentions'])})")
    print(table([(m["created_at"], m["channel"], _one_line(m["text"], 70)) for m in case["mentions"]],
                ("created_at", "channel", "text")))
    print(f"\nevents ({len(case['events'])})")
    print(table([(e["occurred_at"], e["type"].split(".")[-2]) for e in case["events"]], ("occurred_at", "event")))
    if case["responses"]:
        print(f"\nresponses ({len(case['responses'])})")
        print(table([(r["created_at"], r["kind"], r["author_id"],
                      ("automated " if r["automated"] else "") + ("public" if r["public"] else "private"),
                      _one_line(r["text"], 70)) for r in case["responses"]],
                    ("created_at", "kind", "author", "reply", "text")))


def _one_line(text: str | None, width: int) -> str:
    """Text for a table cell: one line, cut at `width` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"
