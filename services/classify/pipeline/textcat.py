"""The trained text classifier: one spaCy component, three softmax heads (sentiment, intent,
department) over one shared feature pass.

Why not three `textcat` components: each would tokenise features again (three passes, a
third of the throughput), and spaCy's hashed bag-of-words weights cannot be read back as
words, while operators need every decision explained. This component is the same model
family as spaCy's `TextCatBOW` (a linear model over words, word pairs and extra features),
with readable feature names: the explanation of a label is the list of features that
pushed it above the runner-up label, in the words of the post.

Artefacts (written by `services.classify.train`, loaded once per process):
`models/textcat/meta.json` (heads, labels, vocabulary, version, training report) and
`models/textcat/weights.npz` (float16 weight matrix, float32 biases, and optionally `D`,
the weights of a dense block: the post's mean word vector from `models/embeddings.npz`).
The dense block adds to the scores but not to explanations, which stay in the post's words.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from services.classify.pipeline.embeddings import Embeddings
from services.classify.pipeline.features import POLAR_FEATURES, Featurizer, cue_words

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
TEXTCAT_DIR = MODELS_DIR / "textcat"
LEXICON_PATH = MODELS_DIR / "lexicon.json"
EMBEDDINGS_FILE = "embeddings.npz"
HEADS: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "neutral", "positive"),
    "intent": ("complaint", "question", "praise", "feedback", "spam", "other"),
    "department": ("billing", "product", "pr", "support"),
}
#: One yes/no head per flag: the trained half of each flag (the rules are the other half).
FLAG_NAMES = ("escalation_threat", "churn_threat", "legal_threat", "safety_issue", "competitor_mention")
FLAG_HEADS: dict[str, tuple[str, ...]] = {f"flag:{flag}": ("no", "yes") for flag in FLAG_NAMES}
EXPLAIN_TOP = 3

#: What `TextClassifier.read` returns per Doc: probabilities, explanation, polar words, vector rows.
Reading = tuple[dict[str, dict[str, float]], dict[str, list[str]], dict[str, list[str]], list[int] | None]

if not Doc.has_extension("textcat"):
    Doc.set_extension("textcat", default=None)
if not Doc.has_extension("textcat_cues"):
    Doc.set_extension("textcat_cues", default=None)


class Batch(NamedTuple):
    """Encoded features of a batch of documents, flat: document i owns the next `lengths[i]`
    entries of `idx` (rows of W) and `val` (feature values), in its features' order."""

    lengths: np.ndarray  # int64, one per document
    idx: np.ndarray  # int64
    val: np.ndarray  # float32


def load_lexicon(path: Path = LEXICON_PATH) -> dict[str, float]:
    return json.loads(path.read_text(encoding="utf-8"))["valence"]


class LinearModel:
    """Weights and vocabulary of the three heads; pure numpy, shared by training and inference."""

    def __init__(self, vocab: list[str], weights: np.ndarray, bias: np.ndarray,
                 heads: dict[str, tuple[str, ...]], meta: dict[str, Any] | None = None,
                 dense: np.ndarray | None = None) -> None:
        self.vocab = vocab
        self.D = None if dense is None else np.asarray(dense, dtype=np.float32)
        self.index = {name: i for i, name in enumerate(vocab)}
        self.W = np.asarray(weights, dtype=np.float32)
        self.b = np.asarray(bias, dtype=np.float32)
        self.heads = heads
        self.meta = meta or {}
        self.slices: dict[str, slice] = {}
        start = 0
        for head, labels in heads.items():
            self.slices[head] = slice(start, start + len(labels))
            start += len(labels)

    @classmethod
    def load(cls, directory: Path = TEXTCAT_DIR) -> LinearModel:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        arrays = np.load(directory / "weights.npz")
        heads = {h: tuple(labels) for h, labels in meta["heads"].items()}
        return cls(meta.pop("vocab"), arrays["W"], arrays["b"], heads, meta,
                   arrays["D"] if "D" in arrays.files else None)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        extra = {} if self.D is None else {"D": self.D}
        np.savez_compressed(directory / "weights.npz", W=self.W.astype(np.float16), b=self.b, **extra)
        meta = {**self.meta, "heads": {h: list(v) for h, v in self.heads.items()}, "vocab": self.vocab}
        (directory / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=0), encoding="utf-8")

    def encode(self, feats: dict[str, float]) -> tuple[list[int], list[float]]:
        idx, val = [], []
        get = self.index.get
        for name, value in feats.items():
            i = get(name)
            if i is not None:
                idx.append(i)
                val.append(value)
        return idx, val

    def encode_batch(self, batch: Sequence[dict[str, float]]) -> Batch:
        """`encode` of every document at once, as the flat arrays `predict_batch` takes.

        Why not `encode` per document: at ~45 features a post the Python loop is the cost. Here
        every loop is C: `map` for the look-ups (-1 for features the model does not know),
        `array.array` for the conversion to machine numbers (numpy's conversion of a list
        inspects every element first), numpy to drop the unknown ones. Each document's
        features keep their order, so its sums are added in the same order as `encode`'s."""
        sizes = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
        ids = np.frombuffer(array("q", map(self.index.get, chain.from_iterable(batch), repeat(-1))), dtype=np.int64)
        values = np.frombuffer(array("f", chain.from_iterable(feats.values() for feats in batch)), dtype=np.float32)
        known = ids >= 0
        ends = np.cumsum(sizes)
        kept = np.concatenate(([0], np.cumsum(known)))
        return Batch(kept[ends] - kept[ends - sizes], ids[known], values[known])

    @staticmethod
    def encode_rows(batch: Sequence[dict[int, float]]) -> Batch:
        """`encode_batch` of features already keyed by row (`Featurizer.rows`): the same arrays,
        with no name to look up. `np.fromiter` converts each number as `array.array` does (a C
        cast of the Python float to float32) and without `array`'s per-item argument parsing."""
        sizes = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
        total = int(sizes.sum())
        ids = np.fromiter(chain.from_iterable(batch), dtype=np.int64, count=total)
        values = np.fromiter(chain.from_iterable(map(dict.values, batch)), dtype=np.float32, count=total)
        return Batch(sizes, ids, values)

    def predict(self, encoded: list[tuple[list[int], list[float]]], explain: bool = True,
                dense: np.ndarray | None = None) -> list[tuple[dict[str, dict[str, float]], dict[str, list[str]]]]:
        """Per document: {head: {label: probability}} and {"head:label": [feature names]}, the
        features that most favour the chosen label over the runner-up, strongest first.
        `dense` (documents × D's rows) is required when the model has a dense block."""
        if not encoded:
            return []
        batch = Batch(np.array([len(i) for i, _ in encoded], dtype=np.int64),
                      np.array(list(chain.from_iterable(i for i, _ in encoded)), dtype=np.int64),
                      np.array(list(chain.from_iterable(v for _, v in encoded)), dtype=np.float32))
        return self.predict_batch(batch, explain, dense)

    def predict_batch(self, batch: Batch, explain: bool = True, dense: np.ndarray | None = None
                      ) -> list[tuple[dict[str, dict[str, float]], dict[str, list[str]]]]:
        """`predict` of an `encode_batch` result."""
        lengths, idx, val = batch
        n_docs = len(lengths)
        if not n_docs:
            return []
        contrib = self.W[idx] * val[:, None]
        scores = np.zeros((n_docs, self.W.shape[1]), dtype=np.float32)
        nonempty = lengths > 0
        if idx.size:
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            scores[nonempty] = np.add.reduceat(contrib, offsets[nonempty], axis=0)
        scores += self.b
        if self.D is not None:
            if dense is None:
                raise ValueError("this model has a dense block: pass the documents' dense features")
            scores += dense @ self.D
        # Per head: each document's probabilities as {label: p}, and its explanation: the names
        # of its strongest features for the chosen label, keyed "head:label". Built with C loops
        # (`map`, numpy) over the batch; Python only visits the documents that have one.
        by_head: list[list[dict[str, float]]] = []
        explanations: list[dict[str, list[str]]] = [{} for _ in range(n_docs)]
        explaining = explain and idx.size > 0
        if explaining:
            doc_of = np.repeat(np.arange(n_docs), lengths)
            flat = contrib.ravel()  # contrib[r, c] is flat[r * columns + c]: a 1-D take is cheaper
            row_start = np.arange(idx.size) * contrib.shape[1]
        for head, labels in self.heads.items():
            sl = self.slices[head]
            s = scores[:, sl]
            e = np.exp(s - s.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            by_head.append(list(map(dict, map(zip, repeat(labels), p.tolist()))))
            if not explaining:
                continue
            # Margin of each feature for the chosen label over the runner-up, all posts at once;
            # then one sort by (post, -margin) yields each post's strongest features first.
            order = np.argsort(-p, axis=1)
            best, runner = sl.start + order[:, 0], sl.start + order[:, 1]
            margin = flat[row_start + best[doc_of]] - flat[row_start + runner[doc_of]]
            keep = margin > 0.05
            kept_docs, kept_margin, kept_idx = doc_of[keep], margin[keep], idx[keep]
            ranking = _rank(kept_docs, kept_margin)
            ranked_docs = kept_docs[ranking]
            # the first EXPLAIN_TOP * 3 of each post, still in post order
            first = np.arange(ranked_docs.size) - np.searchsorted(ranked_docs, ranked_docs) < EXPLAIN_TOP * 3
            top_docs = ranked_docs[first]
            names = list(map(self.vocab.__getitem__, kept_idx[ranking][first].tolist()))
            edges = np.searchsorted(top_docs, np.arange(n_docs + 1))
            bounds = edges.tolist()
            keys = [f"{head}:{label}" for label in labels]
            chosen = order[:, 0].tolist()
            # the posts with a feature kept, ascending: `np.unique(top_docs)` without its sort
            for d in np.flatnonzero(np.diff(edges)).tolist():
                explanations[d][keys[chosen[d]]] = names[bounds[d]:bounds[d + 1]]
        heads = tuple(self.heads)
        probs = list(map(dict, map(zip, repeat(heads), zip(*by_head, strict=True))))
        return list(zip(probs, explanations, strict=True))


def _rank(docs: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """`np.lexsort((-margins, docs))`: by post, then strongest margin first, ties in feature
    order. lexsort on a float key is ~30x slower than one stable integer sort, so both keys go
    into one int64: the post above 32 bits, and below them the margin's bits inverted. The bits
    of a positive float32 (every margin here is above 0.05) increase with its value."""
    inverted = np.invert(np.ascontiguousarray(margins, dtype=np.float32).view(np.uint32)).astype(np.int64)
    return np.argsort((docs.astype(np.int64) << 32) | inverted, kind="stable")


@Language.factory("heatdesk_textcat", default_config={"model_dir": None, "explain": True})
def make_textcat(nlp: Language, name: str, model_dir: str | None, explain: bool) -> TextClassifier:
    return TextClassifier(Path(model_dir) if model_dir else TEXTCAT_DIR, explain)


class TextClassifier:
    """spaCy component: sets `doc._.textcat` (probabilities) and `doc._.textcat_cues`."""

    def __init__(self, model_dir: Path, explain: bool = True) -> None:
        self.model = LinearModel.load(model_dir)
        self.embeddings = Embeddings.load(model_dir.parent / EMBEDDINGS_FILE) if self.model.D is not None else None
        self.featurize = Featurizer(load_lexicon(model_dir.parent / "lexicon.json"), self.embeddings, self.model.index)
        self.explain = explain
        # The words of every feature whose words do not depend on the post (all but the lexicon
        # and rule features): explaining a post is then one look-up per feature name.
        self._fixed_words: dict[str, tuple[str, ...]] = {
            name: tuple(cue_words(name)) for name in self.model.vocab if not _post_dependent(name)}

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            readings = self.read(batch, [doc._.cues for doc in batch], [doc._.entities for doc in batch])
            for doc, (probs, explanation, polar, rows) in zip(batch, readings, strict=True):
                doc._.textcat = probs
                doc._.textcat_cues = explanation
                doc._.polar_words = polar
                if rows is not None:
                    doc._.embedding_rows = rows
                yield doc

    def read(self, docs: Sequence[Doc], cues: Sequence[dict[str, list[str]] | None],
             entities: Sequence[list[dict[str, str]] | None], orths: Sequence[list[int]] | None = None
             ) -> list[Reading]:
        """One batch of Docs whose rule `cues` and `entities` (and optionally ORTH ids) are given
        → per Doc: probabilities {head: {label: p}}, explanation {"head:label": [words]}, polar
        words and vector rows. `pipe` keeps these in `doc._`; the classifier's batch path uses
        them as they are. The batch is one matrix product: same batching, same results."""
        featurize = self.featurize.rows
        if orths is None:
            featurized = [featurize(doc, c, e) for doc, c, e in zip(docs, cues, entities, strict=True)]
        else:
            featurized = [featurize(doc, c, e, o) for doc, c, e, o in zip(docs, cues, entities, orths, strict=True)]
        encoded = self.model.encode_rows([feats for feats, _, _ in featurized])
        dense = self.embeddings.mean([rows for _, _, rows in featurized]) if self.embeddings else None
        predicted = self.model.predict_batch(encoded, self.explain, dense)
        fixed = self._fixed_words
        out: list[Reading] = []
        for (_, polar, rows), rules, (probs, top) in zip(featurized, cues, predicted, strict=True):
            out.append((probs, {key: _words(names, polar, rules, fixed) for key, names in top.items()}, polar, rows))
        return out


_NONE_FIXED: Mapping[str, tuple[str, ...]] = MappingProxyType({})


def _post_dependent(name: str) -> bool:
    """Whether `cue_words(name, polar, rules)` depends on the post (its polar words or rule cues)."""
    return name in POLAR_FEATURES or name.startswith("rule:")


def _words(names: list[str], polar: dict[str, list[str]] | None, rules: dict[str, list[str]] | None,
           fixed: Mapping[str, tuple[str, ...]] = _NONE_FIXED) -> list[str]:
    """Up to EXPLAIN_TOP distinct cue words for a ranked list of feature names; `fixed` holds
    the words of post-independent features (`TextClassifier._fixed_words`), computed once."""
    words: list[str] = []
    known = fixed.get
    for name in names:
        found = known(name)
        for word in cue_words(name, polar, rules) if found is None else found:
            if word not in words:
                words.append(word)
        if len(words) >= EXPLAIN_TOP:
            break
    return words[:EXPLAIN_TOP]
