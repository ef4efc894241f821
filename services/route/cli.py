"""`heatdesk rules check FILE` and `heatdesk rules explain --mention JSON`: rules for operators."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.route.rules.load import RulesError, load_rules
from services.route.rules.model import RuleSet


def departments_in_force(path: str | None = None) -> tuple[str, ...]:
    """Departments of the rules named by HEATDESK_ROUTE_RULES_PATH (or the shipped ones)."""
    import os

    chosen = path if path is not None else os.environ.get("HEATDESK_ROUTE_RULES_PATH", "")
    return load_rules(Path(chosen) if chosen else None).departments


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = sub.add_parser("rules", help="check routing rules, explain a routing decision")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    check = rsub.add_parser("check", help="validate a rules file; exit 1 with every problem listed")
    check.add_argument("file", type=Path)
    explain = rsub.add_parser("explain", help="which rules match a classified mention, and what they decide")
    explain.add_argument("--mention", required=True,
                         help="JSON of {mention, classification} (a mentions.classified.v1 body), or @FILE")
    explain.add_argument("--rules", type=Path, help="rules file (default: HEATDESK_ROUTE_RULES_PATH or shipped)")
    explain.add_argument("--repeat-cases", type=int, default=0, help="the author's earlier cases in the window")


def run(args: argparse.Namespace) -> int:
    if args.rules_command == "check":
        try:
            rules = load_rules(args.file)
        except RulesError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return 1
        print(f"{args.file}: {len(rules.rules)} rules, mode {rules.mode}, departments {', '.join(rules.departments)}: ok")
        return 0
    return _explain(args)


def _explain(args: argparse.Namespace) -> int:
    from services.classify.pipeline.classifier import Classifier  # fills in a bare mention's classification
    from services.route.rules.facts import facts
    from services.route.rules.match import decide

    raw = Path(args.mention[1:]).read_text() if args.mention.startswith("@") else args.mention
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        print(f"heatdesk rules explain: --mention is not JSON: {exc}", file=sys.stderr)
        return 2
    mention = body.get("mention", body) if isinstance(body, dict) else None
    if not isinstance(mention, dict) or not isinstance(mention.get("text"), str):
        print("heatdesk rules explain: give {mention, classification} or a mention with text", file=sys.stderr)
        return 2
    if not isinstance(mention.get("author"), dict):
        mention["author"] = {"id": "explain"}
    classification = body.get("classification") or Classifier().classify([mention])[0]
    try:
        rules: RuleSet = load_rules(args.rules) if args.rules else load_rules(None)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    seen = facts(mention, classification, {"cases": args.repeat_cases, "complaints": 0})
    decision = decide(rules, seen)
    printable = {k: sorted(v) if isinstance(v, set) else v for k, v in seen.items() if k != "text"}
    print(json.dumps({"facts": printable, "decision": decision.as_dict()}, indent=2, default=str))
    return 0
