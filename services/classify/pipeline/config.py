"""The classify rules configuration: departments and their cues, flag rules, products,
competitors, spam and sarcasm markers.

Why a file and not code: the departments and cue lists are per-brand business knowledge
that operators change without a release (DESIGN.md: "config-driven product and competitor
lists"). The shipped default is `services/classify/config/default.json`; another file is
chosen with the `config_path` argument or `HEATDESK_CLASSIFY_CONFIG`. JSON, because the
service has no YAML parser among its dependencies.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.json"
DEFAULT_DEPARTMENTS = ("billing", "product", "pr", "support")


@dataclasses.dataclass(frozen=True)
class FlagRule:
    phrases: tuple[str, ...]
    patterns: tuple[Any, ...]  # spaCy Matcher token patterns
    unless: tuple[str, ...] = ()  # phrases that veto an overlapping cue ("lawyer friend")


@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    departments: dict[str, tuple[str, ...]]
    flags: dict[str, FlagRule]
    products: tuple[str, ...]
    competitors: tuple[str, ...]
    spam: tuple[str, ...]
    sarcasm: tuple[str, ...]
    sarcasm_emoji: tuple[str, ...]
    source: str
    flag_department: dict[str, str] = dataclasses.field(default_factory=dict)


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The configuration file in force: argument, then HEATDESK_CLASSIFY_CONFIG, then the default."""
    chosen = path or os.environ.get("HEATDESK_CLASSIFY_CONFIG") or DEFAULT_CONFIG
    return Path(chosen)


def load_config(path: str | os.PathLike[str] | None = None) -> ClassifyConfig:
    return _load(str(config_path(path)))


@lru_cache(maxsize=8)
def _load(path: str) -> ClassifyConfig:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    departments = {str(d): tuple(cues) for d, cues in raw["departments"].items()}
    if not departments:
        raise ValueError(f"{path}: at least one department is needed")
    flags = {str(f): FlagRule(tuple(rule.get("phrases", ())), tuple(rule.get("patterns", ())), tuple(rule.get("unless", ())))
             for f, rule in raw.get("flags", {}).items()}
    sarcasm = raw.get("sarcasm", {})
    routing = raw.get("routing", {})
    return ClassifyConfig(departments=departments, flags=flags, products=tuple(raw.get("products", ())),
                          competitors=tuple(raw.get("competitors", ())), spam=tuple(raw.get("spam", ())),
                          sarcasm=tuple(sarcasm.get("phrases", ())), sarcasm_emoji=tuple(sarcasm.get("emoji", ())),
                          source=path, flag_department=dict(routing.get("flag_department", {})))
