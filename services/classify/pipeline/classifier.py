"""The classifier the service runs: one spaCy pipeline per process, one `nlp.pipe` per batch,
and `decide`, which turns rule cues and model probabilities into the v1 Classification.

Pipeline: social-text tokenizer → `heatdesk_entities` → `heatdesk_cues` → `heatdesk_textcat`.
`decide` is where rules and model meet, each step recorded in `cues`:
- sentiment, intent, department come from the trained heads;
- sarcasm markers (🙄, "/s", "thanks for nothing") turn a positive reading negative;
- threats make a post a complaint; a threat or safety phrase in a clearly positive post
  ("I'll tell everyone how good you are", "proud of how you handled the recall") is not a
  flag and is dropped, with the words kept under `suppressed:<flag>` in `cues`;
- text in another language (the mention's `language`, else `detect_language`) is not
  guessed at: neutral, "other", support, no flags, language in the result, and 15 priority
  points so a person who reads the language sees it (`components.language`).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from spacy.attrs import LOWER, ORTH
from spacy.language import Language
from spacy.tokens import Doc

from services.classify.pipeline import rules, textcat  # noqa: F401  (registers the factories)
from services.classify.pipeline.concepts import (
    BrandFinder,
    MultilingualCues,
    choosing_rival_cues,
    competitor_words,
    compile_patterns,
    mentioned_others,
    rival_cues,
    shared_words,
)
from services.classify.pipeline.config import DEFAULT_FLAG_THRESHOLD, Brand, ClassifyConfig, config_path, load_config
from services.classify.pipeline.market import (
    Market,
    companies_only,
    competitors_named,
    load_market,
    market_path,
    not_the_addressed,
    switch_targets,
)
from services.classify.pipeline.priority import bucket, priority
from services.classify.pipeline.rules import CueMatcher, EntityMatcher, flags_of
from services.classify.pipeline.textcat import FLAG_NAMES, TextClassifier
from services.classify.pipeline.tokenizer import make_nlp
from services.common.language import detect_language

THREATS = frozenset({"escalation_threat", "churn_threat", "legal_threat"})
SERIOUS = frozenset({"escalation_threat", "legal_threat", "safety_issue"})
POSITIVE_CONTEXT = 0.6  # P(positive) above which a threat phrase is read as praise ("I'll tell everyone!")
UNREAD_LANGUAGE_POINTS = 15
_ORTH_LOWER = [ORTH, LOWER]


def build_pipeline(with_textcat: bool = True, model_dir: str | Path | None = None,
                   config: str | Path | None = None) -> Language:
    """The Heatdesk pipeline; without textcat for training (features only need the rules)."""
    nlp = make_nlp()
    cfg = {"config_path": str(config) if config else None}
    nlp.add_pipe("heatdesk_entities", config=cfg)
    nlp.add_pipe("heatdesk_cues", config=cfg)
    if with_textcat:
        nlp.add_pipe("heatdesk_textcat", config={"model_dir": str(model_dir) if model_dir else None})
    return nlp


@lru_cache(maxsize=4)
def _shared_pipeline(model_dir: str | None, config: str | None) -> Language:
    """One pipeline per (model, configuration) and process: the model is loaded once."""
    return build_pipeline(True, model_dir, config)


def model_version(nlp: Language, config: str | Path | None = None) -> str:
    """The trained model's version plus a digest of the rules: the configuration and the market
    directory it names (`market.load_market`) all decide."""
    meta = nlp.get_pipe("heatdesk_textcat").model.meta
    sources = hashlib.sha256(config_path(config).read_bytes())
    sources.update(market_path(load_config(config).companies).read_bytes())
    digest = sources.hexdigest()[:8]
    return f"{meta['version']};rules+{digest}"


def _language(mention: dict[str, Any]) -> str | None:
    # Ingest sets `language` (None when its detector abstained: read as English); only a
    # mention without the field at all is detected here.
    lang = mention["language"] if "language" in mention else detect_language(mention.get("text") or "")
    return lang.lower().replace("_", "-").split("-")[0] if isinstance(lang, str) and lang else None


class Analysis(NamedTuple):
    """What the pipeline found in one English post: everything `decide` reads. Plain Python,
    so the batch path neither writes nor reads spaCy `doc._` extensions per post."""

    probs: dict[str, dict[str, float]]  # {head: {label: probability}}
    explanation: dict[str, list[str]]  # the model's words per decision, {"sentiment:negative": [...]}
    cues: dict[str, list[str]]  # the rules' words per cue, {"flag:legal_threat": ["lawyer"]}
    entities: list[dict[str, str]]


def analysis_of(doc: Doc) -> Analysis:
    """The Analysis of a Doc that went through the whole pipeline (`nlp(text)`, `nlp.pipe`)."""
    return Analysis(doc._.textcat, doc._.textcat_cues or {}, doc._.cues or {}, doc._.entities or [])


def decide(analysis: Analysis, mention: dict[str, Any], config: ClassifyConfig, version: str,
           language: str | None = None) -> dict[str, Any]:
    """Rule cues + model probabilities of one English post → the v1 Classification."""
    departments = tuple(config.departments)
    probs = analysis.probs
    rule_cues = analysis.cues
    # Word lists are shared with `analysis` and never changed in place: a merge makes a new
    # list. Only their truth value and the final `sorted(set(...))` are read, so a merge can
    # concatenate; sorting and de-duplicating happen once, at the end.
    cues: dict[str, list[str]] = dict(rule_cues)
    for key, words in analysis.explanation.items():
        if key.startswith("flag:"):  # the flag heads' words explain a flag, below
            continue
        cues[key] = cues[key] + words if key in cues else words
    text = mention.get("text") or ""
    mentioned = mentioned_others(text)
    market = load_market(config.companies)
    if "flag:competitor_mention" not in cues and (
            rivals := companies_only(market, text, rival_cues(text, cues.get("concept:competitor_mention", []), mentioned))):
        cues["flag:competitor_mention"] = rivals
    brand = brand_finder(config).find(text, mention.get("brand"))
    own = BrandFinder.own_words(brand)
    if rivals := competitors_named(market, text, mention.get("brand"), own):
        cues["flag:competitor_mention"] = [*cues.get("flag:competitor_mention", ()), *rivals]
    named_rival = "flag:competitor_mention" in cues
    _learned_flags(cues, probs, analysis.explanation, config)
    _vetoed_flags(cues, config, text)
    if not named_rival and "flag:competitor_mention" in cues and not mentioned:
        del cues["flag:competitor_mention"]  # the head alone, and the post names no other company
    if "flag:competitor_mention" in cues:
        others = not_the_addressed(market, text, competitor_words(cues, brand), mention.get("brand"))
        if others:
            cues["flag:competitor_mention"] = others
            if "flag:churn_threat" not in cues and (chosen := choosing_rival_cues(text, mentioned, rivals)):
                cues["flag:churn_threat"] = chosen
        else:
            del cues["flag:competitor_mention"]

    sent = probs["sentiment"]
    label = max(sent, key=sent.__getitem__)
    sentiment = {"label": label, "score": round(sent[label], 3)}
    if label == "positive" and cues.get("sarcasm"):
        sentiment = {"label": "negative", "score": round(sent["positive"], 3)}
        cues["sentiment:negative"] = [*cues.get("sentiment:negative", ()), "sarcasm"]

    flags = flags_of(cues)
    if sentiment["label"] == "positive" and sentiment["score"] >= POSITIVE_CONTEXT:
        # praise of a rival the post moves to ("I'm flying @JetBlue instead, their credits
        # work!") is no praise of the brand: churn stays when a competitor is named
        kept = {"churn_threat"} if "competitor_mention" in flags else set()
        for flag in (THREATS | {"safety_issue"}).intersection(flags) - kept:
            cues[f"suppressed:{flag}"] = cues.pop(f"flag:{flag}")
        flags = flags_of(cues)

    intents = probs["intent"]
    intent = max(intents, key=intents.__getitem__)
    if intent == "praise" and sentiment["label"] == "negative":
        intent = "complaint"
    if SERIOUS.intersection(flags) and intent in ("praise", "feedback", "other", "spam"):
        intent = "complaint"
    elif not SERIOUS.intersection(flags):
        intent = _stated_intent(intent, rule_cues, text)

    scores = _department_scores(probs["department"], rule_cues, departments)
    department = max(departments, key=scores.__getitem__)  # ties: configuration order
    if not flags and (shared := shared_words(text)):
        # passed-on news or posts: no problem of the author's, the company's public story
        sentiment = {"label": "neutral", "score": round(sent["neutral"], 3)}
        intent = "other"
        for key in ("sentiment:neutral", "intent:other", *(("department:pr",) if "pr" in departments else ())):
            cues[key] = [*cues.get(key, ()), *shared]
        department = "pr" if "pr" in departments else department
    routed = _routed_department(flags, config)
    if routed is not None:
        department, reason = routed
        cues[f"routing:{department}"] = [reason]
    author = mention.get("author") or {}
    reposts = (mention.get("metrics") or {}).get("reposts", 0)
    result_priority = priority(sentiment, intent, flags, author if isinstance(author, dict) else {},
                               reposts if isinstance(reposts, int) else 0)
    return {
        "sentiment": sentiment,
        "intent": intent,
        "flags": flags,
        "department": department,
        "department_scores": scores,
        "entities": analysis.entities,
        "priority": result_priority,
        "cues": {k: sorted(set(cues[k])) for k in sorted(cues) if cues[k]},
        "model_version": version,
        "language": language or "en",
        "brand": brand.name if brand is not None else None,
    }


_LINK = re.compile(r"https?://\S+", re.IGNORECASE)


def _stated_intent(intent: str, cues: dict[str, list[str]], text: str) -> str:
    """The intent a configured wording states (`intent_cues`) where the head missed it: a
    promotion is spam when it links out (promotions do; "check it out, my bill doubled" does
    not), and a suggestion is feedback unless the head read praise or spam."""
    if cues.get("intent:spam") and _LINK.search(text):
        return "spam"
    if cues.get("intent:feedback") and intent in ("complaint", "question", "other"):
        return "feedback"
    return intent


def _learned_flags(cues: dict[str, list[str]], probs: dict[str, dict[str, float]],
                   explanation: dict[str, list[str]], config: ClassifyConfig) -> None:
    """A flag the rules did not raise is raised by its trained head at the configured
    threshold, explained by the concept words matched and the head's strongest words."""
    for flag in FLAG_NAMES:
        p = probs.get(f"flag:{flag}")
        key = f"flag:{flag}"
        if p is None or key in cues or p["yes"] < config.flag_thresholds.get(flag, DEFAULT_FLAG_THRESHOLD):
            continue
        cues[key] = [*cues.get(f"concept:{flag}", ()), *explanation.get(f"{key}:yes", ())] or [f"model {p['yes']:.2f}"]


def _vetoed_flags(cues: dict[str, list[str]], config: ClassifyConfig, text: str) -> None:
    """A raised flag one of whose vetoes (`flag_vetoes`) matches is lowered, and the veto's
    words are recorded as `vetoed:<flag>` beside the words that had raised it.

    Why: the guide excludes idioms and third-party events that share a concept's words
    ("add insult to injury", "hurt my credit", identity theft reported to a bureau), and
    on the dev halves 9 of safety's 17 false flags were such posts."""
    for flag, patterns in config.flag_vetoes.items():
        key = f"flag:{flag}"
        if key in cues and (veto := _veto(patterns)) is not None and (said := veto.findall(text)):
            cues[f"vetoed:{flag}"] = sorted({w.lower() for w in said} | {f"raised by: {w}" for w in cues.pop(key)})


#: One compiled pattern per flag's vetoes, as the concept patterns are compiled (`concepts.compile_patterns`).
_veto = lru_cache(maxsize=64)(compile_patterns)


@lru_cache(maxsize=8)
def _brand_finder(brands: tuple[Brand, ...]) -> BrandFinder:
    return BrandFinder(brands)


def brand_finder(config: ClassifyConfig) -> BrandFinder:
    """One BrandFinder per list of brands (its patterns are compiled once)."""
    return _brand_finder(config.brands)


def _routed_department(flags: list[str], config: ClassifyConfig) -> tuple[str, str] | None:
    """Configured routing that outranks the topic: the shipped default sends safety incidents
    to PR (the issue lists them under PR), whatever product they concern."""
    for flag in flags:
        target = config.flag_department.get(flag)
        if target in config.departments:
            return target, flag
    return None


def _department_scores(model: dict[str, float], cues: dict[str, list[str]], departments: tuple[str, ...]) -> dict[str, float]:
    """Model probabilities; departments the model does not know (added in configuration) share
    half the mass by their cue counts, so a new department routes before any retraining."""
    if all(map(model.__contains__, departments)):
        return {d: round(model[d], 3) for d in departments}
    hits = {d: len(cues.get(f"department:{d}", [])) for d in departments}
    total = sum(hits.values())
    return {d: round(0.5 * model.get(d, 0.0) + (0.5 * hits[d] / total if total else 0.0), 3) for d in departments}


#: A question mark in any script: a post the fallback cannot read that asks is a question.
_ASKS = re.compile(r"[?？¿]")


def fallback(mention: dict[str, Any], language: str, departments: tuple[str, ...], version: str,
             multilingual: MultilingualCues | None = None, brand: Brand | None = None,
             routes: dict[str, str] | None = None, market: Market | None = None) -> dict[str, Any]:
    """Text the English pipeline cannot read: a result a human triages, with what the language's
    cue lists do catch (`multilingual` in the configuration): threats, so a threat in Spanish
    still jumps the queue, sentiment words, and department words (the department with most of
    them; support when none matched: on the dev half, every non-English post used to land in
    support, department macro-F1 0.16). The market directory names rivals in any language
    ("Me voy a Corvane", "ich wechsle zu Telekom"): a move to one is churn too. A post with no
    sentiment cue is a question when it asks, else a complaint, what most posts to a care
    account are (on the 67 non-English rows of the tuning halves, "other" was right for 6 of
    the 36 it was given to; intent macro-F1 0.345 → 0.371). A guessed intent does not change the
    priority: it scores as "other" did, plus the unread-language points."""
    author = mention.get("author") or {}
    text = mention.get("text") or ""
    found = multilingual.find(text, language) if multilingual is not None else {}
    if market is not None and (rivals := competitors_named(market, text, mention.get("brand"), BrandFinder.own_words(brand))):
        found["flag:competitor_mention"] = rivals
        if "flag:churn_threat" not in found and (moves := [w for w in switch_targets(text) if w in rivals]):
            found["flag:churn_threat"] = moves
    hits = {d: len(found.get(f"department:{d}", ())) for d in departments}
    dept = max(hits, key=hits.__getitem__) if any(hits.values()) else (
        "support" if "support" in departments else departments[-1])
    flags = flags_of(found)
    negative, positive = len(found.get("sentiment:negative", ())), len(found.get("sentiment:positive", ()))
    label = "negative" if negative > positive or THREATS.intersection(flags) else "positive" if positive > negative else "neutral"
    sentiment = {"label": label, "score": 0.0 if label == "neutral" else 0.6}
    intent = ("complaint" if label == "negative" else "praise" if label == "positive"
              else "question" if _ASKS.search(text) else "complaint")
    routed = next((target for flag, target in (routes or {}).items() if flag in flags and target in departments), None)
    dept = routed or dept
    # a guessed intent earns no points: the language points already put an unread post before a human
    guessed = label == "neutral"
    result_priority = priority(sentiment, "other" if guessed else intent, flags, author if isinstance(author, dict) else {})
    result_priority["components"]["language"] = UNREAD_LANGUAGE_POINTS
    result_priority["score"] = min(100, result_priority["score"] + UNREAD_LANGUAGE_POINTS)
    result_priority["bucket"] = bucket(result_priority["score"])
    return {
        "sentiment": sentiment,
        "intent": intent,
        "flags": flags,
        "department": dept,
        "department_scores": {d: (1.0 if d == dept else 0.0) for d in departments},
        "entities": [],
        "priority": result_priority,
        "cues": {"fallback:language": [language], **{k: v for k, v in sorted(found.items())}},
        "model_version": version,
        "language": language,
        "brand": brand.name if brand is not None else None,
    }


class Classifier:
    """Batch classifier used by the service and the CLI: one batched pass per batch.

    The pipeline is built once per process (per model directory and configuration) and
    shared by every instance, so tests and CLI commands do not reload the model.
    """

    def __init__(self, batch_size: int = 256, model_dir: str | Path | None = None,
                 config: str | Path | None = None) -> None:
        self.nlp = _shared_pipeline(str(model_dir) if model_dir else None, str(config) if config else None)
        self.batch_size = batch_size
        self.config = load_config(config)
        self.departments = tuple(self.config.departments)
        self.model_version = model_version(self.nlp, config)
        self._entities: EntityMatcher = self.nlp.get_pipe("heatdesk_entities")
        self._cues: CueMatcher = self.nlp.get_pipe("heatdesk_cues")
        self._textcat: TextClassifier = self.nlp.get_pipe("heatdesk_textcat")
        self._multilingual = MultilingualCues(self.config)
        self._brands = brand_finder(self.config)

    def classify(self, mentions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = [None] * len(mentions)
        english: list[int] = []
        languages = [_language(m) for m in mentions]
        for i, (m, lang) in enumerate(zip(mentions, languages, strict=True)):
            if lang is not None and lang != "en":
                results[i] = fallback(m, lang, self.departments, self.model_version, self._multilingual,
                                      self._brands.find(m.get("text") or "", m.get("brand")), self.config.flag_department,
                                      load_market(self.config.companies))
            else:
                english.append(i)
        analyses = self.analyse([mentions[i].get("text") or "" for i in english])
        for i, analysis in zip(english, analyses, strict=True):
            results[i] = decide(analysis, mentions[i], self.config, self.model_version, languages[i])
        return [r for r in results if r is not None]

    def analyse(self, texts: list[str]) -> list[Analysis]:
        """What `nlp.pipe(texts, batch_size=self.batch_size)` finds, without its per-post costs:
        the components are called directly on each batch and hand their results on in plain
        Python (no `doc._` extensions, no `Doc.text` rebuilt from Token objects). Batches are
        the ones `nlp.pipe` would make, so the model's batched arithmetic is the same."""
        make_doc = self.nlp.make_doc
        out: list[Analysis] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            docs = [make_doc(text) for text in batch]
            # ORTH and LOWER ids of every token, read once: [[orths...], [lowers...]] per Doc
            attrs = [doc.to_array(_ORTH_LOWER).T.tolist() for doc in docs]
            found = [self._entities.find(doc, text) for doc, text in zip(docs, batch, strict=True)]
            entities = [e for e, _ in found]
            cues = [self._cues.find(doc, ents, lowers, orths, text)
                    for doc, (_, ents), (orths, lowers), text in zip(docs, found, attrs, batch, strict=True)]
            readings = self._textcat.read(docs, cues, entities, [orths for orths, _ in attrs])
            for (probs, explanation, _, _), rule_cues, ents in zip(readings, cues, entities, strict=True):
                out.append(Analysis(probs, explanation, rule_cues, ents))
        return out
