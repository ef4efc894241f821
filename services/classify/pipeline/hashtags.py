"""Hashtags read as the words they run together: "#NeverAgain" → "never again".

Why: customers put their threats in hashtags ("#NeverAgain", "#spreadtheword",
"#telleveryone", "#wontflyagainwithyou", "#1lesscustomer"), and every concept pattern and
cue is written for words with spaces between them, so a threat said as a hashtag was never
read: on the real-customer dev halves and the retired test half 10 of the churn and
escalation posts the rules missed said it that way. The concept patterns read the post's
text followed by its hashtags' words (`with_hashtag_words`); the trained heads, which learned
on the tokens as they are, are not changed.

A hashtag is split at its capitals when it has them ("NoMoreDelays"), else into the fewest
words of the shipped word list (the 27,072 words of `models/embeddings.npz`, all of them
from the training texts) that spell it; a hashtag no sequence of known words spells is left
alone, never guessed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

WORDS_FILE = Path(__file__).resolve().parent.parent / "models" / "embeddings.npz"
_HASHTAG = re.compile(r"(?<![\w&])#(\w{4,40})")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z][a-z]+|[a-z]+|\d+")
_LONGEST_WORD = 19
#: The one- and two-letter words a reading may use: the word list also holds fragments
#: ("ag", "ti") that would spell anything ("#nomoreaggravation" → "no more ag gr av at ion").
_SHORT_WORDS = frozenset("a i am an as at be by do go he if in is it me my no of oh ok on or so to up us we".split())


@lru_cache(maxsize=2)
def _vocabulary(path: str) -> frozenset[str]:
    return frozenset(w for w in np.load(path)["words"].tolist() if w.isalpha() and (len(w) > 2 or w in _SHORT_WORDS))


def split_hashtag(tag: str, words: frozenset[str]) -> list[str] | None:
    """The words a hashtag (without '#') runs together, or None when no reading is sure."""
    if any(c.isupper() for c in tag[1:]) and not tag.isupper():
        parts = [p.lower() for p in _CAMEL.findall(tag)]
        if len(parts) > 1 and all(p.isdigit() or p in words for p in parts):
            return parts
    return _fewest_words(tag.lower(), words)


def _fewest_words(tag: str, words: frozenset[str]) -> list[str] | None:
    """Dynamic programming over the tag's letters: the split into the fewest known words (a
    run of digits counts as one word), and among those the one with the longest words
    (largest sum of squared lengths: "next time i will", not "next ti mei will"). Fewest,
    because a long word is the likelier reading ("everyone", not "every one")."""
    n = len(tag)
    # per end position: (words so far, -sum of squared lengths, start of the last word)
    best: list[tuple[int, int, int] | None] = [None] * (n + 1)
    best[0] = (0, 0, 0)
    for end in range(1, n + 1):
        for start in range(max(0, end - _LONGEST_WORD), end):
            piece = tag[start:end]
            before = best[start]
            if before is None or not (piece in words or piece.isdigit()):
                continue
            cost = (before[0] + 1, before[1] - len(piece) ** 2, start)
            if best[end] is None or cost[:2] < best[end][:2]:
                best[end] = cost
    if best[n] is None or best[n][0] < 2:
        return None  # not spelled by known words, or a single word that needs no reading
    out, end = [], n
    while end > 0:
        start = best[end][2]
        out.append(tag[start:end])
        end = start
    return out[::-1]


@lru_cache(maxsize=65536)
def _reading(tag: str, path: str) -> str | None:
    parts = split_hashtag(tag, _vocabulary(path))
    return " ".join(parts) if parts else None


def hashtag_words(text: str, path: Path = WORDS_FILE) -> list[str]:
    """The readings of a post's hashtags, in order ("never again", "spread the word")."""
    if "#" not in text:
        return []
    return [r for tag in _HASHTAG.findall(text) if (r := _reading(tag, str(path)))]


def with_hashtag_words(text: str, path: Path = WORDS_FILE) -> str:
    """The post's text, then its hashtags' words each on a line of its own (a pattern cannot
    run from one into the next): what the concept patterns read."""
    readings = hashtag_words(text, path)
    return text if not readings else text + "\n" + "\n".join(f"{r}." for r in readings)
