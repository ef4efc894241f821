"""The tokenizer of the Heatdesk pipeline: spaCy's English rules, tuned for social posts.

No English pipeline can be downloaded here, so the project starts from `spacy.blank("en")`
and changes only what social text needs:

- `@handles` stay one token (spaCy already does this) and `#hashtags` become one token
  instead of `#` + word, so `#fail` and `#BoycottAcme` reach the rules and the model whole;
- URLs stay one token (spaCy's `url_match`);
- emoji are split from words and from each other (spaCy's default), so 😡😡 is two cues;
- elongated words (`sooooo`, `slowwww`) are one token; `normal_form` collapses them for
  features and lexicon look-ups while the original text stays in the cues.

`normal_form` is what every later stage keys on, cached by lexeme id because the same few
thousand words make up almost all traffic.
"""

from __future__ import annotations

import re
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.util import compile_prefix_regex

_HASHTAG = re.compile(r"^#[^\W\d_][\w']*$|^#\w*[^\W\d_]\w*$", re.UNICODE)
_REPEAT3 = re.compile(r"(.)\1{2,}")
_REPEAT2 = re.compile(r"(.)\1+")
_NUMBER = re.compile(r"^[#$£€]?\d[\d,.:/-]*(?:[kKmM]|st|nd|rd|th|am|pm|h|gb|mb|mbps|%)?$")
#: Whitespace-separated chunks whose tokenization spaCy keeps (its default is 10,000, full
#: after a few thousand posts). A miss runs the prefix, suffix, infix and URL regexes; a hit
#: copies the chunk's lexemes: tokenizing the airline tweets again took 17.7 µs a post at
#: 10,000 and 8.0 µs at this size. spaCy caches only chunks it can replay exactly (never one
#: that involved a special case), so the size changes speed, not tokens. ~240 bytes a chunk:
#: ~24 MB when full, room for the 30,105 distinct chunks of the 14,640 airline tweets 3 times.
TOKENIZER_CACHE_CHUNKS = 100_000


def make_nlp() -> Language:
    """A blank English pipeline whose tokenizer keeps hashtags whole."""
    nlp = spacy.blank("en")
    prefixes = [p for p in nlp.Defaults.prefixes if p != "#"] + [r"#(?=[^\w])"]
    nlp.tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    nlp.tokenizer.max_cache_size = TOKENIZER_CACHE_CHUNKS
    return nlp


def elongated(word: str) -> bool:
    """Three or more repeats of one letter: a sign of emphasis in social posts."""
    return bool(_REPEAT3.search(word)) and word.isalpha()


@lru_cache(maxsize=200_000)
def normal_form(text: str) -> str:
    """The form every feature and lexicon look-up uses: lower case, handles, URLs and numbers
    replaced by placeholders, hashtags without '#', letter runs of three or more cut to two."""
    if text.startswith("@") and len(text) > 1:
        return "<user>"
    lower = text.lower()
    if lower.startswith(("http://", "https://", "www.")):
        return "<url>"
    if _NUMBER.match(lower):
        return "<num>"
    if lower.startswith("#") and _HASHTAG.match(lower):
        lower = lower[1:]
    lower = lower.replace("’", "'")
    # `search` first: most words have no run, and `sub` with a template costs ~5x a search
    return _REPEAT3.sub(r"\1\1", lower) if _REPEAT3.search(lower) else lower


def lookup_forms(form: str) -> tuple[str, ...]:
    """Spellings to try in a lexicon: the form itself, then with every run cut to one letter
    (`goood` → `good` works at two, `slowww` → `slow` needs one)."""
    if not _REPEAT2.search(form):  # no run (most words): `sub` would return the form itself
        return (form,)
    single = _REPEAT2.sub(r"\1", form)
    return (form,) if single == form else (form, single)
