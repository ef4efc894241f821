"""The `heatdesk` command: one subcommand per service and per operational job.

Exit codes: 0 success, 1 runtime failure (a broker or database that does not answer), 2 usage
or configuration error (credentials refused included). Either is one line on stderr: the
operator commands turn connection failures into HeatdeskErrors, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from services.common.errors import ConfigError, DependencyUnavailable, HeatdeskError


def _service(name: str) -> int:
    if name == "ingest":
        from services.ingest.app import main
    elif name == "classify":
        from services.classify.app import main
    elif name == "route":
        from services.route.app import main
    else:
        from services.notify.app import main
    return main()


def _migrate(args: argparse.Namespace) -> int:
    from services.common import settings as loader
    from services.common.config import ServiceSettings
    from services.common.db import create_database_if_missing, migrate, redact

    settings = loader.load(ServiceSettings)
    if args.create_database and asyncio.run(create_database_if_missing(settings.database_url)):
        print(f"created database {redact(settings.database_url)}")
    applied = asyncio.run(migrate(settings.database_url))
    print(f"applied: {', '.join(applied)}" if applied else "schema up to date")
    return 0


def broker_failure(settings: Any, exc: BaseException) -> HeatdeskError | None:
    """A broker that cannot be reached or refuses us, as one line (None: not such a failure)."""
    from aiokafka import errors

    where = settings.kafka_bootstrap_servers
    if isinstance(exc, errors.SaslAuthenticationFailed | errors.AuthenticationFailedError
                  | errors.UnsupportedSaslMechanismError | errors.ClusterAuthorizationFailedError
                  | errors.TopicAuthorizationFailedError | errors.GroupAuthorizationFailedError):
        return ConfigError(f"the Kafka broker at {where} refused us: {exc} (check HEATDESK_KAFKA_SASL_* and "
                           "HEATDESK_KAFKA_SECURITY_PROTOCOL)")
    if isinstance(exc, errors.KafkaConnectionError | errors.NoBrokersAvailable | errors.KafkaTimeoutError
                  | OSError | TimeoutError):
        reason = ("no broker answered" if isinstance(exc, errors.KafkaConnectionError | errors.NoBrokersAvailable)
                  else "timed out" if isinstance(exc, errors.KafkaTimeoutError | TimeoutError)
                  else str(exc) or type(exc).__name__)
        return DependencyUnavailable(f"cannot reach the Kafka broker at {where}: {reason} "
                                     "(is `make run` running? else set KAFKA_BOOTSTRAP_SERVERS)")
    return None


def _with_broker(settings: Any, coro: Any) -> Any:
    import logging

    # aiokafka logs every failed connection attempt; the command says it once, below.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    except Exception as exc:
        failure = broker_failure(settings, exc)
        if failure is None:
            raise
        raise failure from exc


def _deadletter(args: argparse.Namespace) -> int:
    import orjson

    from services.common.devstate import load_cli_settings
    from services.common.ops import read_deadletters, replay_deadletter, table

    settings = load_cli_settings(announce=False)
    run = lambda coro: _with_broker(settings, coro)  # noqa: E731
    if args.deadletter_command == "list":
        letters = run(read_deadletters(settings, args.limit))
        for letter in letters:
            letter.pop("record")
        if args.json:
            print(orjson.dumps(letters).decode())
        else:
            print(table([(d["partition"], d["offset"], d["stage"], d["reason"], d["source"], d["bytes"], d["detail"])
                         for d in letters], ("partition", "offset", "stage", "reason", "source", "bytes", "detail")))
        return 0
    value = args.file.read_bytes() if args.file else None
    try:
        target = run(replay_deadletter(settings, args.partition, args.offset, value))
    except LookupError as exc:
        print(f"heatdesk deadletter replay: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"heatdesk deadletter replay: {exc}", file=sys.stderr)
        return 2
    print(f"re-published to {target}")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from services.common.devstate import load_cli_settings
    from services.common.kafka import ensure_topics
    from services.common.topics import all_topics
    from services.route.cli import departments_in_force

    settings = load_cli_settings(announce=False)
    specs = all_topics(departments_in_force())
    if args.action == "describe":
        import orjson

        from services.common.ops import describe_topics, table

        rows = _with_broker(settings, describe_topics(settings, [s.name for s in specs]))
        if args.json:
            print(orjson.dumps(rows).decode())
        else:
            mark = "" if all(r["lag_exact"] for r in rows) else "~"
            print(table([(r["topic"], r["partitions"], r["end_offsets"],
                          ", ".join(f"{g.removeprefix('heatdesk-')} {mark}{n}" for g, n in r["lag"].items()))
                         for r in rows], ("topic", "partitions", "end offsets", "lag by group")))
            if mark:
                print("~ approximate: this broker (Tansu, the embedded dev broker) reports end offsets that can "
                      "lag behind its records; on Apache Kafka the lag is exact")
        return 0
    created = _with_broker(settings, ensure_topics(settings, specs))
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name:<26} {state:<8} {spec.why}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from services.docs_reference import settings_rows

    print("| variable | default | meaning |\n|---|---|---|")
    for row in settings_rows():  # the same rows as docs/reference/settings.md
        print(f"| `{row['variable']}` | `{row['default']}` | {row['meaning']} |")
    return 0


def _replay(args: argparse.Namespace) -> int:
    import orjson

    from services.ingest.replay import replay

    if not args.file.is_file():
        print(f"heatdesk replay: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.shuffle is not None and args.speed > 0:
        print("heatdesk replay: --shuffle sends lines out of time order; use it with --speed 0", file=sys.stderr)
        return 2
    summary = asyncio.run(replay(args.file, target=args.target, layout=args.layout, speed=args.speed,
                                 concurrency=args.concurrency, token=args.token, limit=args.limit,
                                 progress=not args.no_progress, shuffle=args.shuffle))
    print(orjson.dumps(summary.as_dict()).decode() if args.json else summary.render())
    problems = summary.outcome["rejected"] + summary.outcome["failed"] + summary.outcome["invalid"]
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heatdesk", description="Heatdesk social customer care services")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("ingest", "run the ingest HTTP service"), ("classify", "run the classifier"),
                            ("route", "run the case router"), ("notify", "run SLA timers and notifications")):
        sub.add_parser(name, help=help_text)
    m = sub.add_parser("migrate", help="apply database migrations to DATABASE_URL")
    m.add_argument("--create-database", action="store_true", help="create the database first if missing")
    sub.add_parser("topics", help="create the Kafka topics that are missing")
    sub.add_parser("config", help="print every setting with its default (Markdown table)")
    sub.add_parser("asyncapi", help="print the AsyncAPI document of every topic (docs/asyncapi.yaml)")
    r = sub.add_parser("replay", help="post a JSONL/CSV file of mentions and responses to ingest, original times kept")
    r.add_argument("file", type=Path)
    r.add_argument("--target", default=os.environ.get("HEATDESK_REPLAY_TARGET", "http://127.0.0.1:8080"),
                   help="base URL of ingest (default http://127.0.0.1:8080)")
    r.add_argument("--layout", default="auto", choices=("auto", "generic", "twcs", "airline", "banking77", "cfpb"))
    r.add_argument("--speed", type=float, default=0.0,
                   help="times faster than the data's own clock; 0 = as fast as ingest accepts (default)")
    r.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    r.add_argument("--token", default=os.environ.get("HEATDESK_REPLAY_TOKEN"), help="ingest API token")
    r.add_argument("--limit", type=int, help="only the first N lines (in time order)")
    r.add_argument("--shuffle", type=int, metavar="SEED",
                   help="send the lines in a random order (this seed): what retrying, reordering webhooks do")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    from services.classify.cli import register as register_classify
    from services.docs_reference import register as register_docs
    from services.notify.cli import register as register_sla
    from services.route.cases_cli import register as register_cases
    from services.route.cli import register as register_rules
    from services.route.retention import register as register_retention

    register_classify(sub)
    register_rules(sub)
    register_cases(sub)
    register_sla(sub)
    register_retention(sub)
    register_docs(sub)
    t = sub.choices["topics"]
    t.add_argument("action", nargs="?", choices=("create", "describe"), default="create",
                   help="create the missing topics (default) or describe partitions, offsets and lag")
    t.add_argument("--json", action="store_true")
    dl = sub.add_parser("deadletter", help="list dead letters; re-publish one (fixed) to its source topic")
    dlsub = dl.add_subparsers(dest="deadletter_command", required=True)
    dls = dlsub.add_parser("list")
    dls.add_argument("--limit", type=int, default=50)
    dls.add_argument("--json", action="store_true")
    dlr = dlsub.add_parser("replay")
    dlr.add_argument("--partition", type=int, required=True)
    dlr.add_argument("--offset", type=int, required=True)
    dlr.add_argument("--file", type=Path, help="the fixed record (JSON); default: the original bytes")
    d = sub.add_parser("dev", help="run broker, database and the four services locally")
    d.add_argument("--state-dir", type=Path, default=Path(".heatdesk"), help="logs and embedded database")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("classify", "train", "evaluate"):
            from services.classify.cli import run as run_classify

            return run_classify(args)
        if args.command in ("ingest", "classify", "route", "notify"):
            return _service(args.command)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "topics":
            return _topics(args)
        if args.command == "config":
            return _config(args)
        if args.command == "asyncapi":
            from services.common.asyncapi import render

            print(render(), end="")
            return 0
        if args.command == "replay":
            return _replay(args)
        if args.command == "docs-reference":
            from services.docs_reference import run as run_docs

            return run_docs(args)
        if args.command == "retention":
            return args.run(args)
        if args.command == "sla":
            from services.notify.cli import run as run_sla

            return run_sla(args)
        if args.command == "cases":
            from services.route.cases_cli import run as run_cases

            return run_cases(args)
        if args.command == "deadletter":
            return _deadletter(args)
        if args.command == "rules":
            from services.route.cli import run as run_rules

            return run_rules(args)
        if args.command == "dev":
            from services.devstack import run_dev

            return run_dev(args.state_dir)
    except ConfigError as exc:
        print(f"heatdesk {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except HeatdeskError as exc:
        print(f"heatdesk {args.command}: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
