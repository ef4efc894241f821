"""Features of the trained text classifier, shared verbatim by training and inference.

Why hand-made features and a linear model (see `textcat`): the project trains on a few
thousand texts it may redistribute, not on millions of tweets, so the model needs prior
knowledge it cannot learn from that little data. Three kinds of features carry it:

- words and word pairs of the normalised text (`w:`/`b:`), with words inside a negation
  scope marked (`nw:happy` for "not happy") so "not happy" and "happy" get different weights;
- a sentiment lexicon score computed the way VADER does (valence per word, negation flips
  it, "but" shifts the weight to the second clause, capitals and boosters intensify), with
  the lexicon distilled from VADER's MIT-licensed word list (`models/lexicon.json`);
- the rule cues (`rule:flag:legal_threat`, `rule:department:billing`, `rule:sarcasm`, …) and
  entity kinds, so configuration edits also move the trained heads.

Every feature has a readable name: the model's explanation of a decision is the list of
features that pushed it, translated back into the words of the post (`cue_words`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from operator import itemgetter

from spacy.attrs import ORTH
from spacy.tokens import Doc

from services.classify.pipeline.embeddings import Embeddings
from services.classify.pipeline.rules import NEGATORS
from services.classify.pipeline.tokenizer import elongated, lookup_forms, normal_form

#: Emoji valence on VADER's -4..4 scale (our own table: VADER's lexicon has emoticons, not emoji).
EMOJI = {"😡": -3.0, "😠": -2.5, "🤬": -3.0, "😤": -2.0, "😭": -2.0, "😢": -2.0, "😞": -2.0, "😒": -1.5, "🙄": -1.5,
         "🙃": -1.0, "🤦": -2.0, "👎": -2.0, "💔": -2.0, "😩": -2.0, "😫": -2.0, "😖": -2.0, "😕": -1.0, "😬": -1.0,
         "🤨": -1.0, "😑": -1.0, "🤢": -2.5, "🤮": -3.0, "❤": 2.5, "😍": 3.0, "🥰": 3.0, "😊": 2.0, "🙂": 1.0,
         "😀": 2.0, "😁": 2.0, "😃": 2.0, "👍": 2.0, "👏": 1.5, "🙌": 2.0, "🎉": 2.0, "💯": 1.5, "✨": 1.0, "🙏": 1.0,
         "🤤": 1.5, "👌": 1.5, "💪": 1.5, "😎": 1.5, "🥳": 2.5, "💙": 2.0, "💜": 2.0, "💚": 2.0, "😘": 2.0}
BOOSTERS = frozenset({"very", "so", "soo", "really", "extremely", "totally", "absolutely", "completely", "too", "super",
                      "incredibly", "utterly", "seriously", "literally", "most", "such", "truly", "hugely"})
_SCOPE_END = frozenset({".", ",", "!", "?", ";", ":", "but", "however", "although", "though", "-", "—"})
_QUESTION_OPENERS = frozenset({"how", "what", "when", "where", "why", "who", "which", "can", "could", "is", "are", "do",
                               "does", "will", "would", "should", "any", "has", "have", "did", "was", "anyone", "where's",
                               "what's", "when's", "how's", "whats", "hows", "r", "u", "pls", "please"})
_NEG_SCALAR = -0.74
_BOOST = 0.293
_CAPS = 0.733


if not Doc.has_extension("polar_words"):
    Doc.set_extension("polar_words", default=None)
if not Doc.has_extension("embedding_rows"):
    Doc.set_extension("embedding_rows", default=None)

_Lexeme = tuple[str, bool, bool, float, bool, bool, bool, bool, str, str, bool, bool, int]
_FORM, _IS_SPACE, _HAS_LOWER, _HAS_QUESTION_MARK = itemgetter(0), itemgetter(7), itemgetter(10), itemgetter(11)


def emoji_valence(text: str) -> float:
    return EMOJI.get(text.replace("\ufe0f", ""), 0.0)


class Featurizer:
    """Computes `extract` fast: everything that depends on the word alone (normal form,
    negator, lexicon valence, capitals, elongation) is cached per lexeme id, so a post costs
    a few dictionary look-ups per token and no spaCy `Token` objects.

    With `embeddings`, each post's word-vector rows go to `doc._.embedding_rows` (the row of
    a word is cached with its lexeme too); `Embeddings.mean` turns a batch of them into the
    dense feature block in one numpy pass."""

    def __init__(self, lexicon: Mapping[str, float], embeddings: Embeddings | None = None) -> None:
        self.lexicon = lexicon
        self.embeddings = embeddings
        self._cache: dict[int, _Lexeme] = {}

    def _lexeme(self, orth: int, doc: Doc) -> _Lexeme:
        text = doc.vocab.strings[orth]
        form = normal_form(text)
        row = self.embeddings.row(form) if self.embeddings is not None else -1
        entry = (form, form in NEGATORS or form.endswith("n't"), form in _SCOPE_END, _valence(form, text, self.lexicon),
                 len(text) > 1 and text.isupper(), len(text) > 2 and text.isupper() and text.isalpha(), elongated(text),
                 text.isspace(), "w:" + form, "nw:" + form, any(ch.islower() for ch in text), "?" in text, row)
        if len(self._cache) < 500_000:
            self._cache[orth] = entry
        return entry

    def __call__(self, doc: Doc) -> dict[str, float]:
        """Feature name → value for one Doc (after the rule components ran); the post's polar
        words go to `doc._.polar_words` and, with embeddings, its vector rows to
        `doc._.embedding_rows`."""
        feats, polar, rows = self.features(doc, doc._.cues, doc._.entities)
        doc._.polar_words = polar
        if rows is not None:
            doc._.embedding_rows = rows
        return feats

    def features(self, doc: Doc, cues: Mapping[str, list[str]] | None, entities: list[dict[str, str]] | None,
                 orths: list[int] | None = None) -> tuple[dict[str, float], dict[str, list[str]], list[int] | None]:
        """Feature name → value, polar words ({"positive": […], "negative": […]}) and word-vector
        rows (None without embeddings) of one Doc whose rule `cues` and `entities` are given.
        The classifier's batch path calls this with the rule results in plain Python, so no
        `doc._` extension (an `Underscore` object per access) is read or written per post,
        and passes the Doc's ORTH ids (`orths`), which it reads once for every component."""
        feats: dict[str, float] = {"bias": 1.0}
        if orths is None:
            orths = doc.to_array(ORTH).tolist() if len(doc) else []
        # `map`, `all` and `any` over item getters: C loops instead of per-token Python steps
        lexemes: list[_Lexeme] = list(map(self._cache.get, orths))
        if not all(lexemes):
            lexemes = [lx or self._cache.get(o) or self._lexeme(o, doc) for o, lx in zip(orths, lexemes, strict=True)]
        if any(map(_IS_SPACE, lexemes)):
            lexemes = [lx for lx in lexemes if not lx[7]]
        forms = list(map(_FORM, lexemes))
        # Shouting is capitals against lower case: a post in capitals throughout has no emphasis.
        all_caps = not any(map(_HAS_LOWER, lexemes))
        scope = 0  # tokens left in the current negation scope
        but_at = -1
        valences: list[tuple[int, float]] = []
        positive: list[str] = []
        negative: list[str] = []
        prev = "<s>"
        n_excl = caps = 0
        last_negator = -10
        for i, (form, is_neg, ends_scope, v, upper, caps_word, elong, _, w_key, nw_key, _, _, _) in enumerate(lexemes):
            if ends_scope:
                scope = 0
                last_negator = -10
                if form == "but" or form == "however":
                    but_at = i
                elif form == "!":
                    n_excl += 1
            if is_neg:
                scope = 4
                last_negator = i
                feats[w_key] = 1.0
            elif scope > 0:
                feats[nw_key] = 1.0
                scope -= 1
            else:
                feats[w_key] = 1.0
            if form != "<user>" or prev != "<s>":
                feats[f"b:{prev} {form}"] = 1.0
            prev = form
            if caps_word and not all_caps:
                caps += 1
            if elong:
                feats["elongated"] = 1.0
            if v:
                if i and forms[i - 1] in BOOSTERS:
                    v += _BOOST if v > 0 else -_BOOST
                if upper and not all_caps:
                    v += _CAPS if v > 0 else -_CAPS
                word = form
                if 0 < i - last_negator <= 3:
                    v *= _NEG_SCALAR
                    negator = forms[last_negator]
                    if negator == "n't" and last_negator:  # "can't" is two tokens: "ca" + "n't"
                        negator = forms[last_negator - 1] + "n't"
                    word = f"{negator} {form}"
                valences.append((i, v))
                (positive if v > 0 else negative).append(word)
        feats[f"b:{prev} </s>"] = 1.0
        _lexicon_features(feats, valences, but_at, n_excl)
        if caps:
            feats["caps"] = min(caps, 3) / 3
        if any(map(_HAS_QUESTION_MARK, lexemes)):
            feats["question_mark"] = 1.0
        first = next((f for f in forms if f != "<user>"), "")
        if first in _QUESTION_OPENERS:
            feats["opener:" + first] = 1.0
        feats["length"] = min(len(forms), 60) / 60
        for label, words in (cues or {}).items():
            feats["rule:" + label] = math.log1p(len(words))
        for ent in entities or ():
            feats["ent:" + ent["label"]] = 1.0
        rows = [lx[12] for lx in lexemes if lx[12] >= 0] if self.embeddings is not None else None
        return feats, {"positive": positive, "negative": negative}, rows


def extract(doc: Doc, lexicon: Mapping[str, float]) -> dict[str, float]:
    """Feature name → value for one Doc; `Featurizer` is the cached, faster form of the same."""
    return Featurizer(lexicon)(doc)


def _valence(form: str, text: str, lexicon: Mapping[str, float]) -> float:
    e = emoji_valence(text)
    if e:
        return e
    candidates = lookup_forms(form) if elongated(text) else (form,)
    for c in candidates:
        v = lexicon.get(c)
        if v is not None:
            return v
    return 0.0


def _lexicon_features(feats: dict[str, float], valences: list[tuple[int, float]], but_at: int, n_excl: int) -> None:
    """VADER's aggregation: 'but' halves what precedes it and raises what follows; '!' amplifies."""
    pos = neg = 0.0
    for i, v in valences:
        if but_at >= 0:
            v *= 0.5 if i < but_at else 1.5
        if v > 0:
            pos += v
        else:
            neg -= v
    total = pos - neg
    if total:
        total += (1 if total > 0 else -1) * min(n_excl, 4) * 0.292
    compound = total / math.sqrt(total * total + 15)
    if pos:
        feats["lex:pos"] = min(pos / 4, 2.0)
    if neg:
        feats["lex:neg"] = min(neg / 4, 2.0)
    if compound > 0.05:
        feats["lex:compound+"] = compound
    elif compound < -0.05:
        feats["lex:compound-"] = -compound
    else:
        feats["lex:flat"] = 1.0
    if pos and neg:
        feats["lex:mixed"] = 1.0


POLAR_FEATURES = {"lex:pos": "positive", "lex:compound+": "positive", "lex:neg": "negative", "lex:compound-": "negative"}


#: Words too common to explain anything on their own.
_STOPWORDS = frozenset("i me my you your it this that the a an to of and or is are was be in on for at with so".split())


def cue_words(name: str, polar: dict[str, list[str]] | None = None,
              rules: dict[str, list[str]] | None = None) -> list[str]:
    """The words behind a feature, for explanations; [] for features without words. Lexicon
    features are explained by the post's own polar words ("love", "not happy"), rule features
    by the words their rule matched ("telling everyone")."""
    if name in POLAR_FEATURES:
        return list((polar or {}).get(POLAR_FEATURES[name], ()))
    if name.startswith("rule:"):
        return list((rules or {}).get(name[5:], ()))
    word = _cue_word(name)
    return [word] if word and word not in _STOPWORDS else []


@lru_cache(maxsize=100_000)
def _cue_word(name: str) -> str | None:
    if name.startswith(("w:", "nw:")):
        word = name.split(":", 1)[1]
        if word.startswith("<") or not any(ch.isalnum() for ch in word) and len(word) == 1:
            return None
        return ("not " + word) if name.startswith("nw:") else word
    if name.startswith("b:"):
        parts = [p for p in name[2:].split(" ") if not p.startswith("<") and p]
        return " ".join(parts) if len(parts) == 2 else None
    if name.startswith("lex:"):
        return None  # explained by the lexicon words themselves (`polar_words`)
    if name == "question_mark":
        return "?"
    if name.startswith("opener:"):
        return name[7:] + "…"
    return None
