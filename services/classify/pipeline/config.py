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
DEFAULT_FLAG_THRESHOLD = 0.5  # P(yes) of a flag head above which the head raises the flag


@dataclasses.dataclass(frozen=True)
class FlagRule:
    phrases: tuple[str, ...]
    patterns: tuple[Any, ...]  # spaCy Matcher token patterns
    unless: tuple[str, ...] = ()  # phrases that veto an overlapping cue ("lawyer friend")


@dataclasses.dataclass(frozen=True)
class Brand:
    """One brand of a multi-brand deployment (an agency or a group runs one Heatdesk for many):
    the handles and names that say a post is about it, its products and its competitors."""

    name: str
    handles: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    competitors: tuple[str, ...] = ()


#: The intents a configured wording can decide: the two the trained head almost never picks
#: (both are rare in its training text), each with its own condition in `decide`.
INTENT_CUE_KINDS = frozenset({"spam", "feedback"})


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
    #: {flag: regexes}: the concept behind a flag, a feature of its trained head
    concepts: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: {flag: regexes}: the parts of a concept that say it outright: a match raises the flag by itself
    concept_cues: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: {flag: substrings}: a post without any of them skips the flag's concept patterns
    concept_gates: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: {language: {flag or "negative"/"positive": regexes}} for text the English model does not read
    multilingual: dict[str, dict[str, tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    #: the brands this deployment listens for (see `Brand`); one "default" brand when none is configured
    brands: tuple[Brand, ...] = ()
    #: {flag: P(yes) threshold of its trained head}: the precision/recall trade-off per flag
    flag_thresholds: dict[str, float] = dataclasses.field(default_factory=dict)
    #: {"spam" or "feedback": regexes}: wordings that state the intent outright (see `IntentCues`)
    intent_cues: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: {flag: regexes}: wordings that keep the flag's trained head from raising it alone (idioms)
    flag_vetoes: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: the market directory (`market.load_market`): companies by sector; None is the shipped one
    companies: str | None = None


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
    concepts = {str(f): tuple(v) for f, v in raw.get("concepts", {}).items() if not f.startswith("_")}
    multilingual = {str(lang): {str(k): tuple(v) for k, v in groups.items()}
                    for lang, groups in raw.get("multilingual", {}).items() if not lang.startswith("_")}
    brands = tuple(_brand(b, path) for b in raw.get("brands", ()))
    if not brands and raw.get("brand"):
        brands = (Brand(name=str(raw["brand"]), names=(str(raw["brand"]),)),)
    products = tuple(raw.get("products", ())) + tuple(p for b in brands for p in b.products)
    competitors = tuple(raw.get("competitors", ())) + tuple(c for b in brands for c in b.competitors)
    return ClassifyConfig(departments=departments, flags=flags, products=tuple(dict.fromkeys(products)),
                          competitors=tuple(dict.fromkeys(competitors)), spam=tuple(raw.get("spam", ())),
                          sarcasm=tuple(sarcasm.get("phrases", ())), sarcasm_emoji=tuple(sarcasm.get("emoji", ())),
                          source=path, flag_department=dict(routing.get("flag_department", {})),
                          concepts=concepts, multilingual=multilingual, brands=brands,
                          concept_cues={str(f): tuple(v) for f, v in raw.get("concept_cues", {}).items()
                                        if not f.startswith("_")},
                          concept_gates={str(f): tuple(v) for f, v in raw.get("concept_gates", {}).items()
                                         if not f.startswith("_")},
                          flag_thresholds={str(f): float(t) for f, t in raw.get("flag_thresholds", {}).items()
                                           if not f.startswith("_")},
                          intent_cues=_intent_cues(raw.get("intent_cues", {}), path),
                          flag_vetoes={str(f): tuple(v) for f, v in raw.get("flag_vetoes", {}).items()
                                       if not f.startswith("_")},
                          companies=str(Path(path).parent / raw["companies"]) if raw.get("companies") else None)


def _intent_cues(raw: dict[str, Any], path: str) -> dict[str, tuple[str, ...]]:
    cues = {str(k): tuple(v) for k, v in raw.items() if not k.startswith("_")}
    unknown = sorted(set(cues) - INTENT_CUE_KINDS)
    if unknown:
        raise ValueError(f"{path}: intent_cues knows {sorted(INTENT_CUE_KINDS)}, not {unknown}")
    return cues


def _brand(raw: Any, path: str) -> Brand:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValueError(f"{path}: every entry of 'brands' needs a non-empty 'name'")
    return Brand(name=raw["name"], handles=tuple(h.lstrip("@").lower() for h in raw.get("handles", ())),
                 names=tuple(raw.get("names", (raw["name"],))), products=tuple(raw.get("products", ())),
                 competitors=tuple(raw.get("competitors", ())))
