"""Known vulnerabilities of the installed dependencies, from PyPI's project endpoint.

Why this exists beside `make audit` (pip-audit): pip-audit asks PyPI's per-version endpoint
(`/pypi/<name>/<version>/json`) or OSV, and behind a registry proxy that serves only
project pages both can be unreachable, so pip-audit can check nothing. The project
endpoint (`/pypi/<name>/json`) still answers, and its `vulnerabilities` list is PyPI's
advisory data (the PyPA advisory database via OSV) for the project's *latest* release.
So a dependency installed at its latest release is checked exactly; any other is reported
as unchecked, never as clean.

Run with the interpreter of the environment to audit:
    .venv/bin/python .ci/audit_latest.py [--json OUT] [--allow-unchecked NAME ...]
Exit 0: every dependency checked, none vulnerable; 1: a known vulnerability; 2: some
dependency could not be checked (and was not allowed with --allow-unchecked).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import json
import re
import sys
import urllib.error
import urllib.request
from typing import Any

INDEX = "https://pypi.org/pypi/{name}/json"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(skip: set[str]) -> dict[str, str]:
    found = {}
    for dist in importlib.metadata.distributions():
        name = canonical(dist.metadata["Name"] or "")
        editable = json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable", False)
        if name and name not in skip and not editable:  # the project itself is not on PyPI
            found[name] = dist.version
    return found


def check(name: str, version: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(INDEX.format(name=name), timeout=30) as resp:
            project = json.load(resp)
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        return {"name": name, "version": version, "status": "unchecked", "why": f"PyPI did not answer: {exc}"}
    latest = project["info"]["version"]
    if latest != version:
        return {"name": name, "version": version, "status": "unchecked", "latest": latest,
                "why": f"not the latest release ({latest}); PyPI lists vulnerabilities for the latest only"}
    vulns = [{"id": v.get("id"), "aliases": v.get("aliases", []), "fixed_in": v.get("fixed_in", []),
              "link": v.get("link")} for v in project.get("vulnerabilities") or () if not v.get("withdrawn")]
    return {"name": name, "version": version, "status": "vulnerable" if vulns else "clean", "vulnerabilities": vulns}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the full report here")
    parser.add_argument("--allow-unchecked", nargs="*", default=[], metavar="NAME",
                        help="dependencies that may stay unchecked (e.g. pinned below latest by another package)")
    parser.add_argument("--skip", nargs="*", default=["pip", "setuptools", "wheel"], metavar="NAME",
                        help="installer tooling that is not a dependency of the services")
    args = parser.parse_args(argv)
    deps = installed({canonical(s) for s in args.skip})
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = sorted(pool.map(lambda item: check(*item), deps.items()), key=lambda r: r["name"])
    allowed = {canonical(n) for n in args.allow_unchecked}
    counts = {s: sum(r["status"] == s for r in results) for s in ("clean", "vulnerable", "unchecked")}
    for r in results:
        if r["status"] == "vulnerable":
            ids = ", ".join(f"{v['id']} (fixed in {', '.join(v['fixed_in']) or '-'})" for v in r["vulnerabilities"])
            print(f"VULNERABLE {r['name']} {r['version']}: {ids}")
        elif r["status"] == "unchecked":
            print(f"unchecked  {r['name']} {r['version']}: {r['why']}{' (allowed)' if r['name'] in allowed else ''}")
    print(f"{len(results)} dependencies: {counts['clean']} checked and clean, {counts['vulnerable']} vulnerable, "
          f"{counts['unchecked']} unchecked")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"source": "pypi project endpoint (latest release)", "counts": counts, "results": results},
                      out, indent=2)
    if counts["vulnerable"]:
        return 1
    return 2 if any(r["status"] == "unchecked" and r["name"] not in allowed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
