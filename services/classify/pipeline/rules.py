"""Rule components of the pipeline: entities, then cues (flags, department cues, spam, sarcasm).

Why rules next to trained models: flags are rare, costly to miss and must be explainable
in one word ("lawyer"), so they are matcher rules an operator can read and extend in
configuration. The trained text classifier (see `textcat`) receives the same cues as
features, so a new cue in the configuration also informs sentiment, intent and department.

Components (registered spaCy factories, in pipeline order):
- `heatdesk_entities`: products and competitors from configuration (PhraseMatcher, set as
  `doc.ents` so flag patterns can say "switch to <COMPETITOR>"), money amounts and
  order/booking/ticket numbers (Matcher), exposed as `doc._.entities`.
- `heatdesk_cues`: every matched cue, as `doc._.cues` = {"flag:legal_threat": ["lawyer"], …}.
  A flag cue in the same clause as a preceding negator ("I'm not going to sue") is dropped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import reduce
from operator import or_
from typing import Any

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from services.classify.pipeline.concepts import ConceptCues, IntentCues
from services.classify.pipeline.config import ClassifyConfig, load_config
from services.classify.pipeline.hashtags import with_hashtag_words

if not Doc.has_extension("cues"):
    Doc.set_extension("cues", default=None)
if not Doc.has_extension("entities"):
    Doc.set_extension("entities", default=None)

NEGATORS = frozenset({"not", "n't", "never", "no", "hardly", "nt", "cannot", "won't", "wont", "don't", "dont",
                      "didn't", "didnt", "isn't", "wasn't", "nothing", "nobody", "without", "neither", "nor"})
_CLAUSE_END = frozenset({".", ",", "!", "?", ";", ":", "but", "and", "or"})
_MONEY_WORDS = ["usd", "eur", "gbp", "dollars", "dollar", "euros", "euro", "pounds", "quid", "bucks", "p"]
_DIGIT = re.compile(r"\d")
_MAYBE_ENTITY = re.compile(r"[$£€]|\b(?:usd|eur|gbp|dollars?|euros?|pounds|quid|bucks|p|order|booking|ticket|case|reservation|"
                           r"confirmation|invoice|reference|ref)\b|\b[A-Z]{2,4}-?\d{3}", re.IGNORECASE)
_ORDER_WORDS = ["order", "booking", "ticket", "case", "reservation", "confirmation", "invoice", "reference", "ref"]
# `_may_have_entity` on ASCII text: the words of `_MAYBE_ENTITY`, whole words of [A-Za-z0-9_]
_GATE_WORDS = frozenset(_MONEY_WORDS + _ORDER_WORDS)
_WORD_RUN = re.compile(r"\w+")
_THREE_DIGITS = re.compile(r"[0-9]{3}")
_ASCII_CODE = re.compile(r"\b[A-Za-z]{2,4}-?[0-9]{3}")


def _may_have_entity(text: str) -> bool:
    """`_DIGIT.search(text) and _MAYBE_ENTITY.search(text)`, the gate of the money/order Matcher,
    as a truth value. The regex with IGNORECASE tries every alternative at every position
    (~10 µs a post with a digit); for ASCII text (nearly all posts) the same test is a currency
    sign, a set look-up of the lower-cased words, and the code pattern only where three digits
    follow each other. In ASCII text, IGNORECASE is lower-casing, word characters are
    [A-Za-z0-9_] and digits [0-9]; other text keeps the regex."""
    if not _DIGIT.search(text):
        return False
    if not text.isascii():
        return _MAYBE_ENTITY.search(text) is not None
    if "$" in text or not _GATE_WORDS.isdisjoint(_WORD_RUN.findall(text.lower())):
        return True
    return _THREE_DIGITS.search(text) is not None and _ASCII_CODE.search(text) is not None


@Language.factory("heatdesk_entities", default_config={"config_path": None})
def make_entities(nlp: Language, name: str, config_path: str | None) -> EntityMatcher:
    return EntityMatcher(nlp, load_config(config_path))


@Language.factory("heatdesk_cues", default_config={"config_path": None})
def make_cues(nlp: Language, name: str, config_path: str | None) -> CueMatcher:
    return CueMatcher(nlp, load_config(config_path))


class EntityMatcher:
    """Products and competitors (configuration), money and order numbers (patterns)."""

    def __init__(self, nlp: Language, config: ClassifyConfig) -> None:
        self.names = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.names.add("PRODUCT", list(nlp.tokenizer.pipe(config.products)))
        handles = [f"@{c.replace(' ', '')}" for c in config.competitors]
        self.names.add("COMPETITOR", list(nlp.tokenizer.pipe(list(config.competitors) + handles)))
        self.patterns = Matcher(nlp.vocab)
        self.patterns.add("MONEY", [
            [{"IS_CURRENCY": True}, {"LIKE_NUM": True}],
            [{"TEXT": {"REGEX": r"^[$£€]\d[\d,]*(\.\d+)?[kK]?$"}}],
            [{"LIKE_NUM": True}, {"LOWER": {"IN": _MONEY_WORDS}}],
        ])
        self.patterns.add("ORDER_ID", [
            [{"LOWER": {"IN": _ORDER_WORDS}},
             {"LOWER": {"IN": ["#", "no", "no.", ".", "number", "nr", ":", "id"]}, "OP": "*"},
             {"TEXT": {"REGEX": r"^#?[A-Za-z0-9][A-Za-z0-9-]{3,}$"}, "LIKE_NUM": False, "OP": "?"},
             {"TEXT": {"REGEX": r"^#?[A-Za-z0-9-]*\d[A-Za-z0-9-]*$"}}],
            [{"TEXT": {"REGEX": r"^[A-Z]{2,4}-?\d{3,}(-\d+)?$"}}],
        ])

    def __call__(self, doc: Doc) -> Doc:
        doc._.entities = self.find(doc, doc.text)[0]
        return doc

    def find(self, doc: Doc, text: str) -> tuple[list[dict[str, str]], tuple[Span, ...]]:
        """The entities of `doc` (whose text is `text`) and the named ones as spans, which are
        also set as `doc.ents` (() when there are none). The classifier's batch path calls this
        directly: it has the text already (`Doc.text` rebuilds it from one Token object per
        token) and keeps the result in plain Python instead of a `doc._` extension."""
        spans = [Span(doc, s, e, label=m) for m, s, e in self.names(doc)]
        entities: list[dict[str, str]] = []
        ents: tuple[Span, ...] = ()
        if spans:
            doc.ents = filter_spans(spans)  # longest wins: "Hooli Buds" over "Hooli"
            ents = doc.ents
            entities = [{"label": e.label_.lower(), "text": e.text, "value": e.text} for e in ents]
        # Money and order numbers need a digit next to a currency or an order word: most posts
        # have neither, and skip the Matcher (the slowest part of this component).
        if not _may_have_entity(text):
            return (_dedupe(entities) if entities else entities), ents
        seen_money: set[int] = set()
        for match_id, start, end in sorted(self.patterns(doc), key=lambda m: (m[1], -m[2])):
            label = doc.vocab.strings[match_id]
            span = doc[start:end]
            if label == "MONEY":
                if start in seen_money:
                    continue
                seen_money.update(range(start, end))
                value = span.text
            else:
                value = span[-1].text.lstrip("#")
            entities.append({"label": label.lower(), "text": span.text, "value": value})
        return _dedupe(entities), ents


def _dedupe(entities: list[dict[str, str]]) -> list[dict[str, str]]:
    seen, out = set(), []
    for e in entities:
        key = (e["label"], e["value"].lower())
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


class CueMatcher:
    """Finds every configured cue; the words found are the explanation of each flag."""

    def __init__(self, nlp: Language, config: ClassifyConfig) -> None:
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.patterns = Matcher(nlp.vocab)
        self.concepts = ConceptCues(config)
        self.intents = IntentCues(config)
        groups: dict[str, tuple[str, ...]] = {"spam": config.spam}
        groups.update({f"department:{d}": cues for d, cues in config.departments.items()})
        groups["sarcasm"] = config.sarcasm + config.sarcasm_emoji
        # Gates as bit masks: bit k stands for one required word set of one pattern, and
        # `_gate_bits` maps a word (LOWER id) to the bits of every set it is in. A post's bits
        # are then one dictionary look-up per distinct word, not a set test per gate and word set.
        self._gate_bits: dict[int, int] = {}
        self._n_bits = 0
        self._gates: list[tuple[int, tuple[str, ...]]] = []
        for flag, rule in config.flags.items():
            groups[f"flag:{flag}"] = rule.phrases
            if rule.patterns:
                self.patterns.add(f"flag:{flag}", list(rule.patterns))
                for pattern in rule.patterns:
                    self._add_gate(nlp, pattern)
            if rule.unless:
                self.phrases.add(f"unless:{flag}", list(nlp.tokenizer.pipe(rule.unless)))
        for label, phrases in groups.items():
            if phrases:
                self.phrases.add(label, list(nlp.tokenizer.pipe(phrases)))

    def _add_gate(self, nlp: Language, pattern: list[dict[str, Any]]) -> None:
        """The Matcher is the slow part of the pipeline (~100 µs a post), so it runs only on
        posts that could match: for some pattern, every required token's word list (or
        entity type) is present in the post. Tokens matched by shape or regex are not checked."""
        mask = 0
        ents: list[str] = []
        for spec in pattern:
            if not spec or spec.get("OP") in ("?", "*"):
                continue
            if "ENT_TYPE" in spec:
                ents.append(spec["ENT_TYPE"])
                continue
            lower = spec.get("LOWER")
            choices = [lower] if isinstance(lower, str) else (lower or {}).get("IN")
            if choices:
                bit = 1 << self._n_bits
                self._n_bits += 1
                for word in choices:
                    key = nlp.vocab.strings.add(word)
                    self._gate_bits[key] = self._gate_bits.get(key, 0) | bit
                mask |= bit
        self._gates.append((mask, tuple(ents)))

    def _needs_matcher(self, lowers: list[int], labels: set[str]) -> bool:
        """Whether some gate is open: all its word sets and entity types occur in the post."""
        # OR of the bits of every word, in C: a repeated word adds nothing (`dict.keys() & list`
        # copied the whole table into a new set per post)
        bits = reduce(or_, filter(None, map(self._gate_bits.get, lowers)), 0)
        for mask, ents in self._gates:
            if bits & mask == mask and (not ents or labels.issuperset(ents)):
                return True
        return False

    def __call__(self, doc: Doc) -> Doc:
        doc._.cues = self.find(doc, doc.ents)
        return doc

    def find(self, doc: Doc, ents: tuple[Span, ...], lowers: list[int] | None = None,
             orths: list[int] | None = None, text: str | None = None) -> dict[str, list[str]]:
        """Every cue of `doc`, {"flag:legal_threat": ["lawyer"], …}. `ents` is `doc.ents`,
        `lowers` and `orths` the Doc's LOWER and ORTH ids: the classifier's batch path passes
        them, as it knows when there are no entities and reads the token attributes once for
        every component. With `orths`, a one-token cue's text is its ORTH string (what
        `doc[i:i + 1].text` returns) without a Span and a Token object per cue."""
        cues: dict[str, list[str]] = defaultdict(list)
        found = list(self.phrases(doc))
        labels = {e.label_ for e in ents}
        if lowers is None:
            lowers = doc.to_array(LOWER).tolist()
        if self._needs_matcher(lowers, labels):
            found += self.patterns(doc)
        strings = doc.vocab.strings
        matches = [(strings[m], s, e) for m, s, e in found]
        vetoes = [(label[7:], s, e) for label, s, e in matches if label.startswith("unless:")]
        for label, start, end in matches:
            if label.startswith("unless:"):
                continue
            if label.startswith("flag:") and (negated(doc, start) or any(
                    f == label[5:] and s < end and start < e for f, s, e in vetoes)):
                continue
            words = strings[orths[start]] if orths is not None and end == start + 1 else doc[start:end].text
            cues[label].append(words.lower())
        if "COMPETITOR" in labels:
            cues["flag:competitor_mention"] = [e.text for e in ents if e.label_ == "COMPETITOR"]
        out = {k: _unique(v) for k, v in cues.items()}
        text = doc.text if text is None else text
        for key, words in self.concepts.find(with_hashtag_words(text)).items():
            out[key] = _unique(out[key] + words) if key in out else words  # a rule's flag words and a concept cue's
        out.update(self.intents.find(text))
        return out


def _unique(words: list[str]) -> list[str]:
    """Distinct words, dropping a cue contained in a longer one ("court" in "see you in court")."""
    if len(words) == 1:
        return words
    out: list[str] = []
    for w in sorted(set(words), key=lambda x: (-len(x), x)):
        padded = f" {w} "
        if not any(padded in f" {longer} " for longer in out):
            out.append(w)
    return sorted(out)


def negated(doc: Doc, start: int, window: int = 4) -> bool:
    """A negator within `window` tokens before position `start`, inside the same clause."""
    for i in range(start - 1, max(-1, start - 1 - window), -1):
        lower = doc[i].lower_
        if lower in _CLAUSE_END:
            return False
        if lower in NEGATORS:
            return True
    return False


def flags_of(cues: dict[str, Any]) -> list[str]:
    """The flag names present in a cue dict, sorted."""
    return sorted([k[5:] for k in cues if k.startswith("flag:")])
