"""The first, rule-based spaCy pipeline: cue matching, then decisions with their cues.

One `nlp.pipe` over the batch; a custom component records every matched cue on the Doc,
and `decide` turns cues into sentiment, intent, flags, department scores and priority.
Every decision carries the cues behind it, so an operator can see why a case landed where.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import spacy
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

from services.classify.pipeline import lexicon

MODEL_VERSION = "rules-2026.11.1"

if not Doc.has_extension("cues"):
    Doc.set_extension("cues", default=None)
if not Doc.has_extension("entities"):
    Doc.set_extension("entities", default=None)

_ORDER_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,}$", re.IGNORECASE)


@Language.factory("heatdesk_cues")
def make_cue_matcher(nlp: Language, name: str) -> CueMatcher:
    return CueMatcher(nlp)


class CueMatcher:
    """Finds cue phrases (case-insensitive) and money / order-number entities."""

    def __init__(self, nlp: Language) -> None:
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        groups: dict[str, tuple[str, ...]] = {"sentiment:negative": lexicon.NEGATIVE,
                                               "sentiment:positive": lexicon.POSITIVE, "spam": lexicon.SPAM}
        groups.update({f"department:{d}": cues for d, cues in lexicon.DEPARTMENTS.items()})
        groups.update({f"flag:{f}": cues for f, cues in lexicon.FLAGS.items()})
        for label, phrases in groups.items():
            self.matcher.add(label, list(nlp.tokenizer.pipe(phrases)))
        self.entities = Matcher(nlp.vocab)
        self.entities.add("MONEY", [
            [{"IS_CURRENCY": True}, {"LIKE_NUM": True}],
            [{"LIKE_NUM": True}, {"LOWER": {"IN": ["usd", "eur", "gbp", "dollars", "euros", "pounds", "bucks"]}}],
        ])
        self.entities.add("ORDER_ID", [
            [{"LOWER": {"IN": ["order", "booking", "ticket", "case", "reservation", "confirmation"]}},
             {"LOWER": {"IN": ["#", "no", "no.", ".", "number", "nr", ":"]}, "OP": "*"},
             {"TEXT": {"REGEX": r"^#?[A-Za-z0-9][A-Za-z0-9-]{3,}$"}, "LIKE_NUM": False, "OP": "?"},
             {"TEXT": {"REGEX": r"^#?[A-Za-z0-9-]*\d[A-Za-z0-9-]*$"}}],
        ])

    def __call__(self, doc: Doc) -> Doc:
        cues: dict[str, list[str]] = defaultdict(list)
        for match_id, start, end in self.matcher(doc):
            label = doc.vocab.strings[match_id]
            text = doc[start:end].text.lower()
            if label.startswith("sentiment:") and _negated(doc, start):
                # "not happy" is negative, "never disappointed" is not a complaint.
                label = "sentiment:negative" if label == "sentiment:positive" else "sentiment:negated"
                text = f"{doc[start - 1].lower_ if start else ''} {text}".strip()
            cues[label].append(text)
        cues.pop("sentiment:negated", None)
        doc._.cues = dict(cues)
        entities = []
        for match_id, start, end in self.entities(doc):
            label = doc.vocab.strings[match_id]
            span = doc[start:end]
            value = span.text if label == "MONEY" else span[-1].text.lstrip("#")
            entities.append({"label": label.lower(), "text": span.text, "value": value})
        doc._.entities = _dedupe(entities)
        return doc


_NEGATORS = frozenset({"not", "n't", "never", "no", "hardly", "nt"})


def _negated(doc: Doc, start: int, window: int = 3) -> bool:
    """A negator within `window` tokens before the cue, inside the same clause."""
    for i in range(start - 1, max(-1, start - 1 - window), -1):
        token = doc[i]
        if token.is_punct:
            return False
        if token.lower_ in _NEGATORS:
            return True
    return False


def _dedupe(entities: list[dict[str, str]]) -> list[dict[str, str]]:
    seen, out = set(), []
    for e in entities:
        key = (e["label"], e["value"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def build_pipeline() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("heatdesk_cues")
    return nlp


def _bucket(score: int) -> str:
    if score >= 75:
        return "critical"
    if score >= 50:
        return "high"
    if score >= 25:
        return "normal"
    return "low"


def decide(doc: Doc, author: dict[str, Any], repost_count: int = 0) -> dict[str, Any]:
    """Turn the cues of one Doc into the v1 Classification."""
    cues: dict[str, list[str]] = doc._.cues or {}
    neg = len(cues.get("sentiment:negative", []))
    pos = len(cues.get("sentiment:positive", []))
    flags = sorted(f.split(":", 1)[1] for f in cues if f.startswith("flag:"))
    threat = any(f in flags for f in ("escalation_threat", "churn_threat", "legal_threat", "safety_issue"))
    neg_effective = neg + (1 if threat else 0)

    polarity = (pos - neg_effective) / (pos + neg_effective + 1)
    if polarity <= -0.2:
        sentiment = {"label": "negative", "score": round(min(1.0, 0.5 + abs(polarity) / 2), 3)}
    elif polarity >= 0.2:
        sentiment = {"label": "positive", "score": round(min(1.0, 0.5 + polarity / 2), 3)}
    else:
        sentiment = {"label": "neutral", "score": round(1.0 - abs(polarity), 3)}

    first = doc[0].lower_ if len(doc) else ""
    is_question = "?" in doc.text or first in lexicon.QUESTION_OPENERS
    if cues.get("spam"):
        intent = "spam"
    elif sentiment["label"] == "negative" or threat:
        intent = "complaint"
    elif is_question:
        intent = "question"
    elif sentiment["label"] == "positive":
        intent = "praise"
    elif any(k.startswith("department:") for k in cues):
        intent = "feedback"
    else:
        intent = "other"

    dept_hits = {d: len(cues.get(f"department:{d}", [])) for d in lexicon.DEPARTMENTS}
    followers = int(author.get("followers") or 0)
    verified = bool(author.get("verified"))
    if any(f in flags for f in ("escalation_threat", "legal_threat", "safety_issue")):
        dept_hits["pr"] += 1  # threats must reach PR (or legal) at once (DESIGN.md)
    total = sum(dept_hits.values())
    if total == 0:
        scores = {d: (1.0 if d == "support" else 0.0) for d in dept_hits}
    else:
        scores = {d: round(n / total, 3) for d, n in dept_hits.items()}
    # Ties break in the declared order of DEPARTMENTS (billing, product, pr, support).
    department = max(scores, key=lambda d: scores[d])

    intent_base = {"complaint": 40, "question": 25, "feedback": 20, "other": 10, "praise": 5, "spam": 0}[intent]
    negativity = int(20 * sentiment["score"]) if sentiment["label"] == "negative" else 0
    flag_points = {"escalation_threat": 20, "legal_threat": 25, "churn_threat": 15, "safety_issue": 30}
    flag_score = min(40, sum(flag_points.get(f, 0) for f in flags))
    reach = min(15, int(4 * math.log10(followers + 1))) + (5 if verified else 0)
    virality = min(10, int(3 * math.log10(repost_count + 1)))
    score = 0 if intent == "spam" else max(0, min(100, intent_base + negativity + flag_score + reach + virality))

    return {
        "sentiment": sentiment,
        "intent": intent,
        "flags": flags,
        "department": department,
        "department_scores": scores,
        "entities": doc._.entities or [],
        "priority": {"score": score, "bucket": _bucket(score),
                     "components": {"intent": intent_base, "negativity": negativity, "flags": flag_score,
                                    "reach": reach, "virality": virality}},
        "cues": {k: sorted(set(v)) for k, v in sorted(cues.items())},
        "model_version": MODEL_VERSION,
    }


class Classifier:
    """Batch classifier: one `nlp.pipe` per batch."""

    def __init__(self, batch_size: int = 256) -> None:
        self.nlp = build_pipeline()
        self.batch_size = batch_size
        self.model_version = MODEL_VERSION

    def classify(self, mentions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        docs = self.nlp.pipe((m["text"] for m in mentions), batch_size=self.batch_size)
        return [decide(doc, m.get("author") or {}, int((m.get("metrics") or {}).get("reposts", 0)))
                for doc, m in zip(docs, mentions, strict=True)]
