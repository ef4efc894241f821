"""Concept cues: the idea behind each flag as a few regular expressions, not a phrase list.

Why: the phrase lists were written with the rows that test them, and missed most threats by
other people ("next stop is the local news consumer desk", "1 star review going up
tonight"). A concept pattern composes the parts of a threat: an intention ("I'll", "gonna",
"next stop is"), a public act ("post", "share", "screenshot") and a public place ("tiktok",
"my channel", "the news"), in any words between. A match is not a flag: it is a feature
(`concept:<flag>`) of the flag's trained head, which weighs it against the rest of the post,
and the matched words explain the flag when the head raises it.

For text the English model does not read, `MultilingualCues` is the fallback: per language,
flag patterns (a match is a flag, explained by its words) and negative/positive cue words
for the sentiment of the neutral fallback result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from services.classify.pipeline.config import Brand, ClassifyConfig
from services.classify.pipeline.market import switch_targets

SENTIMENT_KEYS = ("negative", "positive")


def compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """Regular expressions as one case-insensitive alternation (None for none)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


class ConceptCues:
    """`find(text)` → {"concept:<flag>": [matched words]} for every flag with a match, and
    {"flag:<flag>": [words]} where a concept cue says the flag outright."""

    def __init__(self, config: ClassifyConfig) -> None:
        self.patterns = {flag: rx for flag, patterns in config.concepts.items() if (rx := compile_patterns(patterns))}
        #: per flag, the part of its concept that raises it outright (`flag:<flag>` words)
        self.raising = {flag: rx for flag, patterns in config.concept_cues.items() if (rx := compile_patterns(patterns))}
        #: per flag, the substrings one of which a match needs (None: always run the patterns)
        self.gates = {flag: config.concept_gates.get(flag) for flag in {*self.patterns, *self.raising}}

    def find(self, text: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        lowered = text.lower()
        for flag, rx in self.patterns.items():
            gate = self.gates[flag]
            if gate is not None and not any(g in lowered for g in gate):
                continue
            found = [m.group(0).lower() for m in rx.finditer(text)]
            if found:
                out[f"concept:{flag}"] = sorted(set(found))
            if (raising := self.raising.get(flag)) is not None and (said := [m.group(0) for m in raising.finditer(text)]):
                out[f"flag:{flag}"] = sorted({w.lower() for w in said})
        return out


class IntentCues:
    """`find(text)` → {"intent:spam": words, "intent:feedback": words} for the configured
    wordings that state those intents (`intent_cues`).

    Why: the intent head learned spam and feedback from few template rows and picked neither
    on the real-customer dev half (0 of 6 spam posts, 0 of 12 suggestions), so both classes
    scored F1 0 and held intent macro-F1 down. A promotion ("Check it out: https://…",
    "#Contest", "enter to win") and a suggestion ("Suggestions: tell customers …", "would be
    much faster if you boarded back to front") say what they are in a few words."""

    def __init__(self, config: ClassifyConfig) -> None:
        self.patterns = {kind: rx for kind, patterns in config.intent_cues.items() if (rx := compile_patterns(patterns))}

    def find(self, text: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind, rx in self.patterns.items():
            found = sorted({m.group(0).lower() for m in rx.finditer(text)})
            if found:
                out[f"intent:{kind}"] = found
        return out


class MultilingualCues:
    """Flags and sentiment cues of one language, for the fallback of non-English text."""

    def __init__(self, config: ClassifyConfig) -> None:
        self.languages: dict[str, dict[str, re.Pattern[str]]] = {
            lang: {key: rx for key, patterns in groups.items() if (rx := compile_patterns(patterns))}
            for lang, groups in config.multilingual.items()}

    def find(self, text: str, language: str) -> dict[str, list[str]]:
        """{"flag:<flag>": words, "sentiment:negative": words, "department:<name>": words, …} for
        `language` (empty when the language has no cues configured)."""
        out: dict[str, list[str]] = {}
        for key, rx in self.languages.get(language, {}).items():
            found = sorted({m.group(0).lower() for m in rx.finditer(text)})
            if found:
                out[f"sentiment:{key}" if key in SENTIMENT_KEYS else key if key.startswith("department:")
                    else f"flag:{key}"] = found
        return out


class BrandFinder:
    """Which configured brand a post is about: an addressed handle first, then a name.

    Why: a multi-brand deployment must route "@united … @Delta is better" as United's case with
    Delta as the competitor, and the same words to @Delta as Delta's praise."""

    def __init__(self, brands: tuple[Brand, ...]) -> None:
        self.brands = brands
        self._handles = {h: b for b in brands for h in b.handles}
        names = {n.lower(): b for b in brands for n in b.names}
        self._names = names
        self._name_rx = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b",
                                   re.IGNORECASE) if names else None
        self._handle_rx = re.compile(r"@(\w+)")

    def find(self, text: str, hint: str | None = None) -> Brand | None:
        if hint:
            key = hint.lstrip("@").lower()
            brand = self._handles.get(key) or self._names.get(key)
            if brand is not None:
                return brand
        for handle in self._handle_rx.findall(text):
            brand = self._handles.get(handle.lower())
            if brand is not None:
                return brand
        if self._name_rx is not None and (m := self._name_rx.search(text)):
            return self._names[m.group(1).lower()]
        return self.brands[0] if len(self.brands) == 1 else None

    @staticmethod
    def own_words(brand: Brand | None) -> frozenset[str]:
        """The words that name the brand itself: not a competitor of its own posts."""
        if brand is None:
            return frozenset()
        return frozenset([*(n.lower() for n in brand.names), *brand.handles, *(f"@{h}" for h in brand.handles)])


def competitor_words(cues: Mapping[str, list[str]], brand: Brand | None) -> list[str]:
    """The competitor cue words that are not the addressed brand's own names."""
    own = BrandFinder.own_words(brand)
    return [w for w in cues.get("flag:competitor_mention", ()) if w.lower().replace(" ", "") not in own
            and w.lower() not in own]


_HANDLE = re.compile(r"@(\w+)")
#: The handles a post opens with are the conversation it addresses ("@USAirways @AmericanAir …").
_ADDRESSEES = re.compile(r"\s*(?:[.,]?\s*@\w+[\s,;]*(?:&amp;|&)?\s*)+")
#: Words of a comparison or a move between companies; with another company named, a rival frame.
_RIVAL_FRAME = re.compile(r"\b(?:switch\w*|instead|than|better|best|worst|never|would|call|fly|flying|flew|both|"
                          r"unlike|like|thanks\s+to|has\s+my\s+back|go\s+with|went\s+with|moving|lost|could|can)\b",
                          re.IGNORECASE)
_FLY_TAG = re.compile(r"#(?:fly|nexttimeiwillfly|moneynotspenton)(?!ing\b|er\b|s\b)\w+", re.IGNORECASE)


def mentioned_others(text: str) -> list[str]:
    """@handles the post names besides those it addresses (and not anonymised numeric ids)."""
    handles = _HANDLE.findall(text)
    lead = _ADDRESSEES.match(text)
    addressed = {h.lower() for h in _HANDLE.findall(lead.group(0))} if lead else set()
    if not addressed and handles:
        addressed = {handles[0].lower()}
    return [f"@{h}" for h in handles if h.lower() not in addressed and not h[0].isdigit()]


def rival_cues(text: str, concept_words: list[str], mentioned: list[str]) -> list[str]:
    """Words that name another company in a switching or comparison frame, with no list of names.

    Why: the competitor head, trained on rows that named the configured competitors, missed
    three in four of the real ones ("@AmericanAir … @Delta would never treat its customers",
    "#flysouthwest"), and raised the flag on rows that name no company at all. A company the
    post does not address, named next to comparison or switching words, is the concept: the
    concept pattern's words when they name such a handle, a #fly<airline> tag, or the handle
    itself when the post's words compare or move. `mentioned`: `mentioned_others(text)`."""
    others = {h.lower() for h in mentioned}
    found = [w for w in concept_words if any(f"@{h}".lower() in others for h in _HANDLE.findall(w))]
    found += [t.lower() for t in _FLY_TAG.findall(text)]
    if others and not found and _RIVAL_FRAME.search(text):
        found = sorted(others)
    return found


#: Words that choose a company, before its name or handle: a verb of flying with, moving to or
#: staying with ("this is why I fly @SouthwestAir", "switch back to delta"). "had to fly
#: @Delta" is a rebooking the author did not choose, so it is left out.
_CHOOSING_WORDS = (r"(?<!had to )(?<!had 2 )\b(?:fly|flying|flew|switch\w*(?:\s+back)?\s+to|mov\w+(?:\s+\w+)?\s+to|"
                   r"go(?:ing)?\s+with|stick\w*\s+with|book\w*\s+with|back\s+to)\s+")
#: Choosing another company by its handle ("I'm flying @JetBlue instead").
_CHOOSING_RIVAL = re.compile(_CHOOSING_WORDS + r"@(\w+)", re.IGNORECASE)


def choosing_rival_cues(text: str, mentioned: list[str], named: list[str] = ()) -> list[str]:
    """Words of a post that prefers or picks another company: a churn cue with no churn phrase.

    Why: on the real-customer dev half, 16 of the 38 posts that name a competitor were
    labelled churn (the guide: "switch, move to another company … with or without the other
    company's name"), and the churn head raised 3 of them: "Flying @AmericanAir", "#flyunited"
    state the move without a word of leaving. A handle the post addresses is the brand itself,
    not a choice, so only `mentioned` handles (`mentioned_others(text)`) count, plus the
    #fly<airline> tags of `rival_cues`, plus the rivals `named` in words
    (`market.competitors_named`) that the same words choose ("switching back to delta")."""
    others = {h.lower() for h in mentioned}
    found = [m.group(0).lower() for m in _CHOOSING_RIVAL.finditer(text) if f"@{m.group(1).lower()}" in others]
    if named:
        found += [m.group(0).lower() for w in named
                  for m in re.finditer(_CHOOSING_WORDS + re.escape(w) + r"\b", text, re.IGNORECASE)]
        found += [w for w in switch_targets(text) if w in named]
    return found + [t.lower() for t in _FLY_TAG.findall(text)]



#: A post that passes on someone else's words: a headline with its publisher and link
#: ("JetBlue's CEO battles to appease passengers - Weyburn Review http://t.co/…"), a plain
#: retweet ("RT @acme: …"), or a quote with nothing added ("“@united: … ”").
_SHARED = re.compile(
    r"(?P<source>\s[-–|]\s+(?-i:[A-Z])[\w.&'’]*(?:\s+(?-i:[A-Z0-9])[\w.&'’]*){0,5}\s*(?:\([^)]*\)\s*)?)https?://\S+\s*$"
    r"|^\s*(?P<retweet>RT\s+@\w+):"
    r"|^\s*(?P<quote>[“\"]@\w+):[^”\"]*[”\"]\s*(?:https?://\S+\s*)*$", re.IGNORECASE)


def shared_words(text: str) -> list[str]:
    """The words that show a post shares news or another account's post rather than saying
    something of its own (the labelling guide's `other`: "news-sharing"), else [].

    Why: the heads read a shared headline's words as the author's ("battles", "loses -0.06%"),
    and made 9 of the 12 such posts on the real-customer dev half complaints, 11 of them
    labelled neutral, 9 of them about the company's public story (pr)."""
    m = _SHARED.search(text)
    if m is None:
        return []
    return [" ".join(next(g for g in m.groups() if g).split()).strip("-–| ").lower()]
