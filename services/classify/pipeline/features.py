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
from collections.abc import Hashable, Mapping
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

#: What a word contributes, cached per lexeme: normal form, negator, ends a scope, valence,
#: upper case, capitalised word, elongated, space, the keys of its `w:`/`nw:` features (names,
#: or model rows in a `Featurizer.rows` entry), has lower case, has "?", vector row, form number,
#: and in a `rows` entry the rows of the word pairs it starts (`Featurizer._followers`).
_Lexeme = tuple[str, bool, bool, float, bool, bool, bool, bool, Hashable, Hashable, bool, bool, int, int,
                dict[int, int] | None]
_FORM, _IS_SPACE, _HAS_LOWER, _HAS_QUESTION_MARK = itemgetter(0), itemgetter(7), itemgetter(10), itemgetter(11)
_CACHE_LIMIT = 500_000  # entries per cache: lexemes, form numbers, word pairs (~100 bytes each)
_START, _END = "<s>", "</s>"


def emoji_valence(text: str) -> float:
    return EMOJI.get(text.replace("\ufe0f", ""), 0.0)


class _Keys(dict[str, Hashable]):
    """Feature name → the key it is stored under: the name itself, or its model row (-1 for a
    name the model does not know). Filled on first use; the names that are not per word (rule
    labels, entity labels, openers, the fixed features) are few."""

    def __init__(self, index: Mapping[str, int] | None) -> None:
        super().__init__()
        self.index = index

    def __missing__(self, name: str) -> Hashable:
        key = name if self.index is None else self.index.get(name, -1)
        if len(self) < _CACHE_LIMIT:
            self[name] = key
        return key


class Featurizer:
    """Computes `extract` fast: everything that depends on the word alone (normal form,
    negator, lexicon valence, capitals, elongation) is cached per lexeme id, so a post costs
    a few dictionary look-ups per token and no spaCy `Token` objects.

    `rows` (given the model's `index`) is `features` keyed by model row instead of name: the
    same features in the same order, less the ones the model does not know. Inference needs
    nothing else, and skips building a string per word pair and hashing every name again.

    With `embeddings`, each post's word-vector rows go to `doc._.embedding_rows` (the row of
    a word is cached with its lexeme too); `Embeddings.mean` turns a batch of them into the
    dense feature block in one numpy pass."""

    def __init__(self, lexicon: Mapping[str, float], embeddings: Embeddings | None = None,
                 index: Mapping[str, int] | None = None) -> None:
        self.lexicon = lexicon
        self.embeddings = embeddings
        self.index = index
        self._cache: dict[int, _Lexeme] = {}
        self._row_cache: dict[int, _Lexeme] = {}
        self._names = _Keys(None)
        self._row_keys = _Keys(index)
        self._form_numbers: dict[str, int] = {_START: 0, _END: 1}
        # form a → {number of form b: row of "b:a b"}: a word pair is one small-int look-up in
        # the dict its first word's entry holds, not a string to build and hash
        self._followers: dict[str, dict[int, int]] = {}
        self._n_pairs = 0

    def _lexeme(self, orth: int, doc: Doc) -> _Lexeme:
        entry = self._entry(orth, doc)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[orth] = entry
        return entry

    def _entry(self, orth: int, doc: Doc) -> _Lexeme:
        """The `_lexeme` entry of a word, not cached: `rows` keeps only its own entries."""
        text = doc.vocab.strings[orth]
        form = normal_form(text)
        row = self.embeddings.row(form) if self.embeddings is not None else -1
        number = self._form_numbers.get(form, -1)  # -1: the table is full, its pairs are not cached
        if number < 0 and len(self._form_numbers) < _CACHE_LIMIT:
            number = self._form_numbers[form] = len(self._form_numbers)
        return (form, form in NEGATORS or form.endswith("n't"), form in _SCOPE_END, _valence(form, text, self.lexicon),
                 len(text) > 1 and text.isupper(), len(text) > 2 and text.isupper() and text.isalpha(), elongated(text),
                 text.isspace(), "w:" + form, "nw:" + form, any(ch.islower() for ch in text), "?" in text, row, number, None)

    def _row_lexeme(self, orth: int, doc: Doc) -> _Lexeme:
        """The `_lexeme` entry with its `w:`/`nw:` names replaced by their model rows."""
        entry = self._cache.get(orth) or self._entry(orth, doc)
        index = self.index or {}
        form, number = entry[0], entry[13]
        # a form without a number (the table is full) keeps its pairs to itself
        followers = self._followers.setdefault(form, {}) if number >= 0 else {}
        entry = (*entry[:8], index.get(entry[8], -1), index.get(entry[9], -1), *entry[10:14], followers)
        if len(self._row_cache) < _CACHE_LIMIT:
            self._row_cache[orth] = entry
        return entry

    def _pair_row(self, followers: dict[int, int], number: int, prev: str, form: str) -> int:
        """Row of the word pair "b:prev form", kept in `prev`'s `followers` under `form`'s number
        (-1: a form without a number, not kept)."""
        row = (self.index or {}).get(f"b:{prev} {form}", -1)
        if number >= 0 and self._n_pairs < _CACHE_LIMIT:
            followers[number] = row
            self._n_pairs += 1
        return row

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
        The classifier's batch path calls `rows` with the rule results in plain Python, so no
        `doc._` extension (an `Underscore` object per access) is read or written per post,
        and passes the Doc's ORTH ids (`orths`), which it reads once for every component."""
        return self._features(doc, cues, entities, orths, False)  # type: ignore[return-value]

    def rows(self, doc: Doc, cues: Mapping[str, list[str]] | None, entities: list[dict[str, str]] | None,
             orths: list[int] | None = None) -> tuple[dict[int, float], dict[str, list[str]], list[int] | None]:
        """`features` with each name replaced by its row in the model's `index`, in the same
        order, and the names the model does not know left out: what `LinearModel.encode_rows`
        takes."""
        if self.index is None:
            raise ValueError("rows need the model's index: Featurizer(..., index=model.index)")
        feats, polar, rows = self._features(doc, cues, entities, orths, True)
        feats.pop(-1, None)  # every unknown name
        return feats, polar, rows  # type: ignore[return-value]

    def _features(self, doc: Doc, cues: Mapping[str, list[str]] | None, entities: list[dict[str, str]] | None,
                  orths: list[int] | None, by_row: bool
                  ) -> tuple[dict[Hashable, float], dict[str, list[str]], list[int] | None]:
        """One loop for both keyings: the word features' keys come from the lexeme entries
        (names or rows), word pairs from `_followers` or a formatted name, the rest from `keys`."""
        cache, make, keys = ((self._row_cache, self._row_lexeme, self._row_keys) if by_row
                             else (self._cache, self._lexeme, self._names))
        feats: dict[Hashable, float] = {keys["bias"]: 1.0}
        if orths is None:
            orths = doc.to_array(ORTH).tolist() if len(doc) else []
        # `map`, `all` and `any` over item getters: C loops instead of per-token Python steps
        lexemes: list[_Lexeme] = list(map(cache.get, orths))
        if not all(lexemes):
            lexemes = [lx or cache.get(o) or make(o, doc) for o, lx in zip(orths, lexemes, strict=True)]
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
        prev = _START
        followers = self._followers.setdefault(_START, {}) if by_row else None
        n_excl = caps = 0
        last_negator = -10
        for i, (form, is_neg, ends_scope, v, upper, caps_word, elong, _, w_key, nw_key, _, _, _, number, nexts
                ) in enumerate(lexemes):
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
            if form != "<user>" or prev != _START:
                if followers is None:
                    feats[f"b:{prev} {form}"] = 1.0
                else:
                    row = followers.get(number)
                    feats[self._pair_row(followers, number, prev, form) if row is None else row] = 1.0
            prev, followers = form, nexts
            if caps_word and not all_caps:
                caps += 1
            if elong:
                feats[keys["elongated"]] = 1.0
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
        if followers is None:
            feats[f"b:{prev} {_END}"] = 1.0
        else:
            row = followers.get(1)  # 1: the number of "</s>"
            feats[self._pair_row(followers, 1, prev, _END) if row is None else row] = 1.0
        _lexicon_features(feats, valences, but_at, n_excl, keys)
        if caps:
            feats[keys["caps"]] = min(caps, 3) / 3
        if any(map(_HAS_QUESTION_MARK, lexemes)):
            feats[keys["question_mark"]] = 1.0
        first = next((f for f in forms if f != "<user>"), "")
        if first in _QUESTION_OPENERS:
            feats[keys["opener:" + first]] = 1.0
        feats[keys["length"]] = min(len(forms), 60) / 60
        for label, words in (cues or {}).items():
            feats[keys["rule:" + label]] = math.log1p(len(words))
        for ent in entities or ():
            feats[keys["ent:" + ent["label"]]] = 1.0
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


def _lexicon_features(feats: dict[Hashable, float], valences: list[tuple[int, float]], but_at: int, n_excl: int,
                      keys: Mapping[str, Hashable] | None = None) -> None:
    """VADER's aggregation: 'but' halves what precedes it and raises what follows; '!' amplifies.
    `keys` maps each feature name to the key it is stored under (`_Keys`); none: the name."""
    keys = keys if keys is not None else _Keys(None)
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
        feats[keys["lex:pos"]] = min(pos / 4, 2.0)
    if neg:
        feats[keys["lex:neg"]] = min(neg / 4, 2.0)
    if compound > 0.05:
        feats[keys["lex:compound+"]] = compound
    elif compound < -0.05:
        feats[keys["lex:compound-"]] = -compound
    else:
        feats[keys["lex:flat"]] = 1.0
    if pos and neg:
        feats[keys["lex:mixed"]] = 1.0


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
