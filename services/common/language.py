"""Language identification for short customer posts: script first, then function words.

Why our own: the English pipeline decides only whether a post is English and routes the
rest to a neutral fallback, so what matters is "English or not" with a language tag when
the evidence is clear. Unicode scripts settle non-Latin text at once; for Latin text the
share of very frequent function words of each language decides, which works on tweets of
five words where character n-gram models trained on long documents guess. It is fast
(one pass over the words, no model file) and abstains (`None`) instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+", re.UNICODE)
#: `_WORD` on ASCII text already in lower case: the same words, without a pass per word.
_ASCII_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")

#: The most frequent function words of each language (lower case). Short and unambiguous
#: where possible: words shared by two languages count for both.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and you your is are was were have has had not this that with for my me i it of to in on "
                    "at be do does did but they them what why how when where can can't don't won't i'm it's will "
                    "would should please thanks thank just still again an a from our we so no yes".split()),
    "es": frozenset("el la los las que de del y en es un una por para con no mi mis su pero muy esta este está "
                    "son como más ya me lo le se al hay tengo gracias hola porque nada todo".split()),
    "fr": frozenset("le la les de des du et est un une pour pas que qui dans sur avec mon ma mes ce cette je vous "
                    "nous il elle sont au aux mais très merci bonjour ne plus tout".split()),
    "de": frozenset("der die das und ist nicht ein eine ich du sie wir mit für auf den dem des zu von im es "
                    "aber sehr noch mein meine danke bitte hallo kein keine auch wie".split()),
    "pt": frozenset("o a os as que de do da dos das e em um uma por para com não meu minha é são mas muito "
                    "obrigado obrigada olá isso está você nós ao".split()),
    "it": frozenset("il lo la gli le di che e è un una per non con mi mio mia sono ma molto grazie ciao questo "
                    "questa ho hai del della nel".split()),
    "nl": frozenset("de het een en is niet ik je jij wij we met voor op van dat die dit maar zeer heel dank "
                    "bedankt hallo mijn geen ook nog".split()),
}

#: word → the languages it is a function word of: one dictionary lookup per word instead of
#: one set lookup per word and language (ingest runs this on every post).
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _lang, _vocab in FUNCTION_WORDS.items():
    for _word in _vocab:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _lang)

_SCRIPTS = (  # (unicodedata name prefix, language tag or script subtag)
    ("CJK UNIFIED", "zh"), ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("ARABIC", "ar"),
    ("HEBREW", "he"), ("CYRILLIC", "ru"), ("GREEK", "el"), ("THAI", "th"), ("DEVANAGARI", "hi"),
)


def _script_language(text: str) -> str | None:
    if text.isascii():
        return None  # Latin script: decided by the function words
    counts: dict[str, int] = {}
    letters = len(_ASCII_LETTERS.findall(text))  # Latin letters need no name lookup
    for ch in _NON_ASCII.findall(text):
        if not ch.isalpha():
            continue
        letters += 1
        name = unicodedata.name(ch, "")
        for prefix, lang in _SCRIPTS:
            if name.startswith(prefix):
                counts[lang] = counts.get(lang, 0) + 1
                break
    if not letters or not counts:
        return None
    lang, n = max(counts.items(), key=lambda kv: kv[1])
    if "ja" in counts and lang == "zh":  # Japanese mixes kanji with kana
        lang = "ja"
    return lang if n / letters >= 0.3 else None


def detect_language(text: str, min_hits: int = 2) -> str | None:
    """BCP 47 primary tag of `text`, or None when the evidence is too thin to say."""
    by_script = _script_language(text)
    if by_script is not None:
        return by_script
    cleaned = _NOISE.sub(" ", text)
    if cleaned.isascii():  # most posts: lower-case once, then ASCII letters only
        words = _ASCII_WORD.findall(cleaned.lower())
    else:
        words = [w.lower().replace("’", "'") for w in _WORD.findall(cleaned)]
    if not words:
        return None
    scores = dict.fromkeys(FUNCTION_WORDS, 0)
    for languages in map(_LANGUAGES_OF.get, words):
        if languages:
            for lang in languages:
                scores[lang] += 1
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, hits), (_, runner_up) = ranked[0], ranked[1]
    if hits < min(min_hits, len(words)) or hits == runner_up:
        return None
    return best
