"""Static word vectors (`models/embeddings.npz`, built by `services.classify.distill`) and the
mean vector of a post, a dense feature block of the linear heads.

Why: the sparse word features only cover words seen in training; a word vector distilled
from a sentence encoder lets "appalling" lean the way "awful" was trained to. Serving needs
numpy only: one dictionary look-up per distinct word form (cached by the `Featurizer` per
lexeme) and one vectorised mean over a whole batch (`mean`), not per-post Python loops over
the vector's dimensions.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from services.classify.pipeline.tokenizer import lookup_forms


class Embeddings:
    """Word → row of a float32 matrix; `row` for the look-up, `mean` for a batch of posts."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.dim = int(self.vectors.shape[1])

    @classmethod
    def load(cls, path: Path) -> Embeddings:
        arrays = np.load(path)
        return cls(arrays["words"].tolist(), arrays["vectors"])

    def row(self, form: str) -> int:
        """Row of a normal form (`tokenizer.normal_form`), trying elongation-free and
        hashtag/apostrophe-free spellings; -1 for words without a vector (placeholders, numbers,
        punctuation, unknown words), which then do not count in the mean."""
        get = self.index.get
        for candidate in lookup_forms(form):
            i = get(candidate)
            if i is not None:
                return i
        stripped = form.strip("'#")
        if stripped and stripped != form:
            return get(stripped, -1)
        return -1

    def mean(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """(posts × dim) mean word vector per post; zeros for a post with no known word."""
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        total = int(lengths.sum())
        if not total:
            return out
        # `array` flattens in C; a generator expression costs a Python step per word
        flat = np.frombuffer(array("q", chain.from_iterable(rows)), dtype=np.int64)
        nonempty = lengths > 0
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
        out[nonempty] = np.add.reduceat(self.vectors[flat], starts, axis=0) / lengths[nonempty, None]
        return out
