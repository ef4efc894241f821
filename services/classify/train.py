"""`heatdesk train`: builds the shipped models from data the project may redistribute.

Training data, and why each is allowed (services/classify/models/README.md has the NOTICE):
- the train split of the hand-written set `tests/data/labelled_mentions.jsonl` (ours);
- the posts of `tests/data/written/` (ours: written for training from the labelling guide
  alone, by writers who never saw the rules or the evaluation set);
- template text written for this project (`services.classify.synth` and, for sentiment and
  intent only, `services.classify.synth_social`, ours);
- BANKING77 `train.csv` (CC BY 4.0, attributed), with its 77 intents mapped to our
  departments and, for problem reports, to complaint/negative;
- CFPB complaint narratives (US government public data): all complaints, all negative;
- optionally, GoEmotions' Reddit comments (Apache-2.0), sentiment only, from the dataset's own
  emotion-to-sentiment grouping;
- VADER's lexicon (MIT), distilled into `models/lexicon.json` as a feature;
- optionally, static word vectors distilled from all-MiniLM-L6-v2 (Apache-2.0) by
  `services.classify.distill` (`models/embeddings.npz`): the mean vector of a post is a dense
  feature block of the heads.
The airline tweets, TWCS and TweetEval files are evaluation-only and never read here.

The model is a multinomial logistic regression per head, fitted full-batch with Adam on a
sparse design matrix in numpy (no scipy/sklearn needed); it trains in seconds on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from services.classify import evalset
from services.classify.pipeline.classifier import build_pipeline
from services.classify.pipeline.embeddings import Embeddings
from services.classify.pipeline.features import Featurizer
from services.classify.pipeline.textcat import (
    EMBEDDINGS_FILE,
    FLAG_HEADS,
    FLAG_NAMES,
    HEADS,
    LEXICON_PATH,
    MODELS_DIR,
    TEXTCAT_DIR,
    LinearModel,
    load_lexicon,
)
from services.classify.synth import generate
from services.classify.synth_social import generate_social
from services.classify.synth_threats import generate_threats
from services.classify.training_data import banking77, cfpb, cfpb_extra, goemotions, load_labelled, written

SOURCE_WEIGHT = {"labelled": 5.0, "synthetic": 0.5, "banking77": 0.25, "cfpb": 0.5, "threats": 1.5, "cfpb_extra": 0.5,
                 "goemotions": 0.15, "written": 2.0}
ALL_HEADS = {**HEADS, **FLAG_HEADS}


def build_lexicon() -> dict[str, Any]:
    """VADER's word list (MIT) as {token: mean valence}; kept in the repo so serving needs no VADER."""
    import vaderSentiment

    source = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    valence = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            valence[parts[0].lower()] = round(float(parts[1]), 3)
    return {"source": "vaderSentiment 3.3.2 vader_lexicon.txt, Copyright (c) 2016 C.J. Hutto, MIT License",
            "valence": valence}


def featurize(texts: Sequence[str], lexicon: dict[str, float]) -> list[dict[str, float]]:
    return featurize_dense(texts, lexicon, None)[0]


def featurize_dense(texts: Sequence[str], lexicon: dict[str, float], embeddings: Embeddings | None
                    ) -> tuple[list[dict[str, float]], np.ndarray | None]:
    """Sparse features per text and, with `embeddings`, the (texts × dim) mean word vectors."""
    nlp = build_pipeline(with_textcat=False)
    featurizer = Featurizer(lexicon, embeddings)
    feats, rows = [], []
    for doc in nlp.pipe(texts, batch_size=512):
        feats.append(featurizer(doc))
        rows.append(doc._.embedding_rows)
    return feats, (embeddings.mean(rows) if embeddings is not None else None)


def fit(feats: list[dict[str, float]], examples: list[dict[str, Any]], *, l2: float = 3e-3, iterations: int = 250,
        lr: float = 0.08, min_count: int = 2, dense_l2_factor: float = 0.1, dense: np.ndarray | None = None,
        vector_l2: float = 0.1, vector_heads: Sequence[str] = ("sentiment", "intent"),
        heads: dict[str, tuple[str, ...]] | None = None) -> LinearModel:
    """Softmax regression per head, full batch, Adam; a missing label masks that head for that example.

    `dense_l2_factor` scales the L2 penalty of the few dense features (lexicon, rules,
    punctuation) against the many sparse word features. `dense` (examples × dim mean word
    vectors) adds a dense block to `vector_heads` only, standardised per column while fitting
    (so one `vector_l2` fits every column) and folded back into plain weights and biases."""
    head_set = heads or ALL_HEADS
    counts = Counter(name for f in feats for name in f)
    keep_always = {n for f, ex in zip(feats, examples, strict=True) if ex["source"] == "labelled" for n in f}
    vocab = sorted(n for n, c in counts.items() if c >= min_count or n in keep_always or not n.startswith(("w:", "nw:", "b:")))
    index = {n: i for i, n in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, f in enumerate(feats):
        for name, v in f.items():
            i = index.get(name)
            if i is not None:
                rows.append(r)
                cols.append(i)
                vals.append(v)
    row = np.asarray(rows, dtype=np.int64)
    col = np.asarray(cols, dtype=np.int64)
    val = np.asarray(vals, dtype=np.float32)
    n, v = len(feats), len(vocab)
    labels_total = sum(len(x) for x in head_set.values())
    targets = np.zeros((n, labels_total), dtype=np.float32)
    weights = np.zeros((n, len(head_set)), dtype=np.float32)
    start = 0
    for h, (head, labels) in enumerate(head_set.items()):
        known = [ex.get(head) for ex in examples]
        freq = Counter(k for k in known if k)
        for r, (k, ex) in enumerate(zip(known, examples, strict=True)):
            if k:
                targets[r, start + labels.index(k)] = 1.0
                # Class balance (inverse square root of frequency) times the source's weight.
                weights[r, h] = SOURCE_WEIGHT[ex["source"]] / np.sqrt(freq[k] / max(freq.values()))
        total = weights[:, h].sum()
        if total > 0:  # a head no example labels stays untrained (its weights stay zero)
            weights[:, h] /= total
        start += len(labels)
    offsets = np.searchsorted(row, np.arange(n))
    lexical = np.array([name.startswith(("w:", "nw:", "b:")) for name in vocab])
    l2_rows = np.where(lexical, l2, l2 * dense_l2_factor).astype(np.float32)[:, None]
    W = np.zeros((v, labels_total), dtype=np.float32)
    b = np.zeros(labels_total, dtype=np.float32)
    m_w, s_w, m_b, s_b = np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)
    slices = []
    start = 0
    for labels in head_set.values():
        slices.append(slice(start, start + len(labels)))
        start += len(labels)
    params = [(W, m_w, s_w), (b, m_b, s_b)]
    if dense is not None:
        mu, sd = dense.mean(axis=0), dense.std(axis=0) + 1e-6
        X = ((dense - mu) / sd).astype(np.float32)
        D = np.zeros((X.shape[1], labels_total), dtype=np.float32)
        params.append((D, np.zeros_like(D), np.zeros_like(D)))
        head_mask = np.concatenate([np.full(len(labels), head in vector_heads, dtype=np.float32)
                                    for head, labels in head_set.items()])
    for t in range(1, iterations + 1):
        scores = np.add.reduceat(W[col] * val[:, None], offsets, axis=0) + b
        if dense is not None:
            scores += X @ D
        grad_s = np.zeros_like(scores)
        for h, sl in enumerate(slices):
            s = scores[:, sl]
            p = np.exp(s - s.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            grad_s[:, sl] = (p - targets[:, sl]) * weights[:, h:h + 1]
        gW = np.stack([np.bincount(col, weights=val * grad_s[row, k], minlength=v) for k in range(labels_total)], axis=1)
        gW = gW.astype(np.float32) + l2_rows * W
        grads = [gW, grad_s.sum(axis=0)]
        if dense is not None:
            grads.append((X.T @ grad_s + vector_l2 * D) * head_mask)
        for (param, m, s), grad in zip(params, grads, strict=True):
            m *= 0.9
            m += 0.1 * grad
            s *= 0.999
            s += 0.001 * grad * grad
            param -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(s / (1 - 0.999 ** t)) + 1e-8)
    if dense is None:
        return LinearModel(vocab, W, b, dict(head_set))
    folded = D / sd[:, None]
    return LinearModel(vocab, W, b - mu @ folded, dict(head_set), dense=folded)


def _evaluation_rows(source: str) -> list[dict[str, Any]]:
    """The real-customer evaluation set's rows of `source`: excluded from every training source."""
    if not evalset.LABELS_PATH.exists():
        return []
    return [r for r in load_labelled(evalset.LABELS_PATH) if r["source"] == source]


def collect(labelled: Path, data_dir: Path | None, synthetic: int, social: int = 12000,
            threats: int = 8000, cfpb_extra_paths: Sequence[Path] = (),
            goemotions_paths: Sequence[Path] = (), written_paths: Sequence[Path] = ()) -> list[dict[str, Any]]:
    examples = [{**r, "source": "labelled"} for r in load_labelled(labelled, "train") if r.get("language", "en") == "en"]
    examples += written(written_paths, {**HEADS, "flags": FLAG_NAMES})
    examples += generate(synthetic) + generate_social(social) + generate_threats(threats)
    evaluation_cfpb = _evaluation_rows("cfpb")
    held_out = frozenset(r["source_id"] for r in evaluation_cfpb)
    if data_dir is not None:
        examples += banking77(data_dir) + cfpb(data_dir, exclude=held_out)
    if cfpb_extra_paths:  # the evaluation set's CFPB rows keep their text: near-copies are dropped too
        examples += cfpb_extra(cfpb_extra_paths, set(held_out), [r["text"] for r in evaluation_cfpb if r.get("text")])
    examples += goemotions(goemotions_paths)
    for ex in examples:  # complete flag lists become yes/no labels of the flag heads
        if "flags" in ex:
            for head in FLAG_HEADS:
                ex[head] = "yes" if head[5:] in ex["flags"] else "no"
    return examples


def train(labelled: Path, data_dir: Path | None, out_dir: Path = MODELS_DIR, synthetic: int = 6000,
          refresh_lexicon: bool = True, embeddings: Path | None = None, cfpb_extra_paths: Sequence[Path] = (),
          goemotions_paths: Sequence[Path] = (), written_paths: Sequence[Path] = (), **fit_options: Any) -> dict[str, Any]:
    """Train and write the artefacts; returns the training report (also stored in meta.json).
    With `embeddings` (an `.npz` from `services.classify.distill`), the file is copied to
    `out_dir` and the heads get the dense word-vector block."""
    started = time.perf_counter()
    # Every source is read (and a malformed file refused) before anything is written to out_dir.
    examples = collect(labelled, data_dir, synthetic, cfpb_extra_paths=cfpb_extra_paths,
                       goemotions_paths=goemotions_paths, written_paths=written_paths)
    lexicon_path = out_dir / LEXICON_PATH.name
    if refresh_lexicon:
        try:
            lexicon_path.parent.mkdir(parents=True, exist_ok=True)
            lexicon_path.write_text(json.dumps(build_lexicon(), ensure_ascii=False, sort_keys=True), encoding="utf-8")
        except ImportError:  # vaderSentiment is a bench extra: reuse the shipped lexicon
            pass
    lexicon = load_lexicon(lexicon_path)
    vectors = None
    if embeddings is not None:
        target = out_dir / EMBEDDINGS_FILE
        if embeddings.resolve() != target.resolve():
            target.write_bytes(embeddings.read_bytes())
        vectors = Embeddings.load(target)
    feats, dense = featurize_dense([ex["text"] for ex in examples], lexicon, vectors)
    model = fit(feats, examples, dense=dense, **fit_options)
    weight_bytes = model.W.astype(np.float16).tobytes() + (b"" if model.D is None else model.D.tobytes())
    digest = hashlib.sha256(weight_bytes).hexdigest()[:8]
    model.meta = {
        "version": f"textcat-linear-{datetime.now(UTC):%Y.%m.%d}+{digest}",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": dict(Counter(ex["source"] for ex in examples)),
        "source_weights": SOURCE_WEIGHT,
        "features": len(model.vocab),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if vectors is not None:
        model.meta["dense"] = {"file": EMBEDDINGS_FILE, "dim": vectors.dim, "words": len(vectors.index)}
    model.save(out_dir / TEXTCAT_DIR.name)
    return model.meta
