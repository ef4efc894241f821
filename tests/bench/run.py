"""`make bench`: run every benchmark section, print a table, write bench-results.json.

Sections are independent modules with a `run() -> dict`; one that fails is reported as
failed with its error and the others still run, so one broken piece never hides the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import os
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.common.embedded import EmbeddedPostgres, server_answers
from tests.bench.common import REPO, machine

SECTIONS = ["end_to_end", "end_to_end_kafka", "ingest", "classify", "route", "notify", "scaling"]
#: Sections that are another section's module on another broker: section -> (module, run's keyword arguments).
VARIANTS = {"end_to_end_kafka": ("e2e", {"broker_kind": "kafka"})}


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict) and "median" in value and "unit" in value:
        return [(prefix, f"{value['median']} {value['unit']}  (min {value['min']}, max {value['max']}, "
                         f"{value['runs']} runs)")]
    if isinstance(value, dict):
        rows = []
        for key, inner in value.items():
            rows += _rows(f"{prefix}.{key}" if prefix else key, inner)
        return rows
    return [(prefix, str(value))]


def _median(value: Any) -> Any:
    return value.get("median") if isinstance(value, dict) else value


def _headline(results: dict[str, Any]) -> None:
    """The figures operators size clusters from, under fixed names, next to the full sections."""
    classify = results.get("classify", {}).get("throughput", {})
    if classify:
        results["classify"]["per_core_per_s"] = _median(classify.get("classify_mentions_per_s"))
        results["classify"]["vader_per_s"] = _median(classify.get("vader_texts_per_s"))
    notify = results.get("notify", {})
    if "fire_clocks_handled_per_s" in notify:
        notify["timers_per_s"] = notify["fire_clocks_handled_per_s"]
    e2e = results.get("end_to_end", {})
    if "rss_mb" in e2e:
        results["rss_mb"] = e2e["rss_mb"].get("load", {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--output", type=Path, default=REPO / "bench-results.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine()}
    with postgres() as dsn:
        os.environ["DATABASE_URL"] = dsn  # the sections that read it from the environment
        _run_sections(args.only or SECTIONS, results, dsn)
    _report(args, results)
    return 0


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """DATABASE_URL's server when it answers, else an embedded PostgreSQL for the whole run
    (as `make run` and the tests do: no server runs on a fresh machine)."""
    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if asyncio.run(server_answers(dsn)):
        yield dsn
        return
    with tempfile.TemporaryDirectory(prefix="heatdesk-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pgdata")
        try:
            yield pg.start("postgres")
        finally:
            pg.stop()


def _run_sections(names: list[str], results: dict[str, Any], dsn: str) -> None:
    for name in names:
        started = time.monotonic()
        print(f"== {name} ...", flush=True)
        try:
            module_name, options = VARIANTS.get(name, ("e2e" if name == "end_to_end" else name, {}))
            module = importlib.import_module(f"tests.bench.bench_{module_name}")
            if "database_url" in inspect.signature(module.run).parameters:
                options = {**options, "database_url": dsn}
            results[name] = module.run(**options)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other sections
            results[name] = {"failed": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        results[name]["seconds"] = round(time.monotonic() - started, 1)


def _report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    _headline(results)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    width = 48
    print(f"\nHeatdesk benchmarks, {results['machine']['date']}, {results['machine']['cpus']} CPUs, "
          f"Python {results['machine']['python']}")
    for name in args.only or SECTIONS:
        for key, value in _rows(name, results[name]):
            if not key.endswith(".trace"):
                print(f"  {key:<{width}} {value}")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    raise SystemExit(main())
