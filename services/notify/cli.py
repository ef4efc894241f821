"""`heatdesk sla …`: check a policies file, compute a due time, backtest a policy on a data set.

Wire into services/cli.py with `from services.notify.cli import register as register_sla`,
`register_sla(sub)` in build_parser, and `if args.command == "sla": return run(args)` in main.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from services.common.slapolicy import KINDS, PRIORITIES, PolicyError, PolicySet, check_overrides, load_policies
from services.common.timeutil import format_rfc3339, parse_rfc3339


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sla = sub.add_parser("sla", help="SLA policies: check a file, compute a due time, backtest on a data set")
    ssub = sla.add_subparsers(dest="sla_command", required=True)
    check = ssub.add_parser("check", help="validate a policies file; exit 1 with every problem listed")
    check.add_argument("file", type=Path)
    due = ssub.add_parser("due", help="when a clock started at --at falls due under a policy")
    due.add_argument("--policy", help="policy name (default: the one selected for the case facts)")
    due.add_argument("--priority", choices=PRIORITIES, default="normal")
    due.add_argument("--department", default="support")
    due.add_argument("--channel", default="x")
    due.add_argument("--tag", action="append", default=[], help="case tag (repeatable)")
    due.add_argument("--kind", choices=KINDS, default="first_response")
    due.add_argument("--at", required=True, help="RFC 3339 start, e.g. 2026-01-30T16:00:00Z")
    due.add_argument("--policies", type=Path, help="policies file (default: HEATDESK_SLA_POLICIES_PATH or shipped)")
    bt = ssub.add_parser("backtest", help="replay a data set under a policy: response rate, latencies, breaches")
    bt.add_argument("file", type=Path, help="JSONL/CSV in any `heatdesk replay` layout (e.g. twcs)")
    bt.add_argument("--policy", default="default", help="policy name in the policies file (default: default)")
    bt.add_argument("--policies", type=Path, help="policies file (default: HEATDESK_SLA_POLICIES_PATH or shipped)")
    bt.add_argument("--priority", choices=PRIORITIES, default="normal", help="priority of every case (default normal)")
    bt.add_argument("--department", default="support", help="department of every case (default support)")
    bt.add_argument("--layout", default="auto", choices=("auto", "generic", "twcs", "airline", "banking77", "cfpb"))
    bt.add_argument("--json", action="store_true", help="print one JSON object")


def _policies(path: Path | None) -> PolicySet:
    chosen = path or (Path(os.environ["HEATDESK_SLA_POLICIES_PATH"]) if os.environ.get("HEATDESK_SLA_POLICIES_PATH")
                      else None)
    policies = load_policies(chosen)
    raw = os.environ.get("HEATDESK_SLA_FIRST_RESPONSE_TARGETS", "")
    if raw:
        from services.common.settings import parse_mapping

        policies = policies.with_first_response_targets(check_overrides(parse_mapping(raw)))
    return policies


def run(args: argparse.Namespace) -> int:
    try:
        if args.sla_command == "check":
            policies = load_policies(args.file)
            for p in policies.policies:
                applies = "every case" if p.applies_to.empty else "some cases"
                print(f"{args.file}: policy {p.name!r}: {p.calendar.describe()}, applies to {applies}")
            print(f"{args.file}: {len(policies.policies)} policies: ok")
            return 0
        policies = _policies(args.policies)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if args.sla_command == "due":
        return _due(args, policies)
    return _backtest(args, policies)


def _due(args: argparse.Namespace, policies: PolicySet) -> int:
    try:
        start = parse_rfc3339(args.at)
    except ValueError as exc:
        print(f"heatdesk sla due: --at: {exc}", file=sys.stderr)
        return 2
    policy = policies.resolve(args.policy, args.priority, args.department, args.channel, args.tag)
    due = policy.due(args.kind, start)
    print(json.dumps({"policy": policy.name, "kind": args.kind, "started_at": format_rfc3339(start),
                      "target_seconds": policy.target(args.kind),
                      "due_at": format_rfc3339(due) if due else None,
                      "steps": [{"name": s.name, "offset_seconds": s.offset_s, "level": s.level,
                                 "notify": list(s.notify), "action": s.action} for s in policy.steps(args.kind)]}))
    return 0


def _backtest(args: argparse.Namespace, policies: PolicySet) -> int:
    from services.common.errors import InvalidInput
    from services.ingest.replay_sources import read_items
    from services.notify.backtest import backtest

    if args.policy not in policies.names():
        print(f"heatdesk sla backtest: unknown policy {args.policy!r}; one of {', '.join(policies.names())}",
              file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"heatdesk sla backtest: no such file: {args.file}", file=sys.stderr)
        return 2
    try:
        items = read_items(args.file, args.layout)
    except InvalidInput as exc:
        print(f"heatdesk sla backtest: {exc.title}: {exc.errors}", file=sys.stderr)
        return 2
    result = backtest(items, policies, args.policy, priority=args.priority, department=args.department)
    print(json.dumps(result.as_dict()) if args.json else result.render())
    return 0


if __name__ == "__main__":  # `python -m services.notify.cli sla …` works before services/cli.py wires it
    parser = argparse.ArgumentParser(prog="heatdesk")
    register(parser.add_subparsers(dest="command", required=True))
    sys.exit(run(parser.parse_args()))
