"""The market directory: which company a post addresses, and which other companies it names.

Why: the competitor flag means "another company that competes with the addressed brand is
named in a comparison, a switch or a recommendation" (docs/labelling.md). The rules before this
module knew other companies only as @handles the post does not address, which is how posts
that tag two airlines read, but most real posts name the rival in words ("JetBlue here I
come", "switching back to delta", "How can Southwest get it right but United can't"): on the
real-customer dev and retired test halves the handle rule found 2 of the 23 competitor posts
that do not tag two airlines, and test2 (drawn without such a stratum) 0 of 20. A directory of
companies by sector (`config/companies.json`, data an operator extends) names them, and the
sector tells a competitor from a partner ("booked on Expedia" names no rival of an airline).
A company the directory does not hold still counts when the post moves to it by name
("moving my mortgage to Crestline Credit Union"): `switch_targets` reads capitalised names
after words of switching.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

DEFAULT_COMPANIES = Path(__file__).resolve().parent.parent / "config" / "companies.json"


@dataclasses.dataclass(frozen=True)
class Company:
    name: str
    sectors: frozenset[str]
    handles: frozenset[str]  # lowercase, without "@"
    group: str = ""  # the owning company's name: companies of one group never compete ("" = its own)

    @property
    def owner(self) -> str:
        return self.group or self.name


@dataclasses.dataclass(frozen=True)
class Named:
    """A company a post names: the words that name it, and the company (None: not in the directory)."""

    words: str
    company: Company | None


_HANDLE = re.compile(r"@(\w+)")
_LEADING_HANDLES = re.compile(r"\s*(?:[“\"]?\.?@\w+[\s,;:]*(?:&amp;|&)?\s*)+")


class Market:
    """Companies by sector, matched by name (any case, or capitalised for names that are also
    common words) and by handle."""

    def __init__(self, companies: Iterable[tuple[Company, tuple[str, ...], tuple[str, ...]]]) -> None:
        self._by_handle: dict[str, Company] = {}
        self._by_name: dict[str, Company] = {}  # lowercased word sequence → company
        self._by_cased: dict[str, Company] = {}  # word sequence as written → company
        for company, names, cased in companies:
            for h in company.handles:
                self._by_handle.setdefault(h, company)
            for n in names:
                self._by_name.setdefault(_key(n).lower(), company)
            for n in cased:
                self._by_cased.setdefault(_key(n), company)
        self._longest = max((k.count(" ") + 1 for k in (*self._by_name, *self._by_cased)), default=1)
        #: the lowercased first word of every name: most words start none, and are passed by one look-up
        self._first_words = frozenset(k.split(" ")[0].lower() for k in (*self._by_name, *self._by_cased))

    def by_handle(self, handle: str) -> Company | None:
        return self._by_handle.get(handle.lstrip("@").lower())

    def by_name(self, name: str) -> Company | None:
        """The company a name (any case) or a common-word name (as cased) names."""
        return self._by_name.get(name.lower()) or self._by_cased.get(name) or next(
            (c for n, c in self._by_cased.items() if n.lower() == name.lower()), None)

    def addressed(self, text: str, hint: str | None = None) -> Company | None:
        """The company a post is addressed to: the ingest's brand hint, else the first handle
        the post opens with (or, with no opening handles, its first handle) that the
        directory knows."""
        if hint and (company := self.by_handle(hint) or self._by_name.get(hint.lower())):
            return company
        lead = _LEADING_HANDLES.match(text)
        handles = _HANDLE.findall(lead.group(0)) if lead else _HANDLE.findall(text)[:1]
        for h in handles:
            if company := self.by_handle(h):
                return company
        return None

    def named(self, text: str) -> list[Named]:
        """Every company the post names, in words or by a handle after its opening ones, in
        order of appearance."""
        found: list[tuple[int, Named]] = []
        lead = _LEADING_HANDLES.match(text)
        start = lead.end() if lead else 0  # the handles a post opens with address it, name no rival
        for m in _HANDLE.finditer(text, start):
            if company := self.by_handle(m.group(1)):
                found.append((m.start(), Named(m.group(0), company)))
        found += self._names_in_words(text)
        found.sort(key=lambda item: item[0])
        return [n for _, n in found]

    def _names_in_words(self, text: str) -> list[tuple[int, Named]]:
        """Names as runs of whole words, the longest first at each word: a dictionary look-up
        per word and length, not one pattern of every name tried at every character (that
        cost 95 µs a post, a third of classifying it)."""
        first = self._first_words
        if not any(_bare(w).lower() in first for w in _WORD.findall(text)):
            return []  # most posts: no word starts a name, and no word's position is needed
        text = _WEB_ADDRESS.sub(" ", text.replace("&amp;", "&"))
        words = [(m.start(), m.end(), _bare(m.group(0))) for m in _WORD.finditer(text)]
        out: list[tuple[int, Named]] = []
        i = 0
        while i < len(words):
            if words[i][2].lower() not in first:
                i += 1
                continue
            for n in range(min(self._longest, len(words) - i), 0, -1):
                span = words[i:i + n]
                phrase = " ".join(w for _, _, w in span)
                company = self._by_name.get(phrase.lower())
                if company is None and (company := self._by_cased.get(phrase)) is not None and \
                        _inside_proper_name(text, span[0][0], span[-1][1]):
                    company = None
                if company is not None:
                    out.append((span[0][0], Named(text[span[0][0]:span[-1][1]], company)))
                    i += n
                    break
            else:
                i += 1
        return out


_CAPITALISED_BEFORE = re.compile(r"(?-i:[A-Z])[\w'’]*\s+$")
_CAPITALISED_AFTER = re.compile(r"^\s+(?-i:[A-Z])[a-z]")


def _inside_proper_name(text: str, start: int, end: int) -> bool:
    """A common-word name ("American", "United") next to another capitalised word mid-sentence
    is part of a longer name ("Waterbury Republican American", "United States"), not the company."""
    before = text[max(0, start - 30):start]
    if _CAPITALISED_BEFORE.search(before) and not re.search(r"(?:^|[.!?]\s+)\S+\s+$", before):
        return True
    return bool(_CAPITALISED_AFTER.match(text[end:end + 4]))


#: A word as names are written: letters and digits with inner '&', apostrophes, '+', '-' and
#: a web suffix ("AT&T", "Sainsbury's", "Disney+", "T-Mobile", "Walmart.com"), or a lone '&'
#: ("Marks & Spencer"); never the rest of a handle or a hashtag.
_WORD = re.compile(r"(?<![\w@#&'’+-])(?:\w(?:[\w&'’+-]*\w|\+)?(?:\.(?:com|co\.uk))?(?![\w])|&(?=\s))")
_WEB_ADDRESS = re.compile(r"https?://\S+|www\.\S+")


def _key(name: str) -> str:
    """A name as the word sequence `_names_in_words` compares: its words joined by one space."""
    return " ".join(_bare(m.group(0)) for m in _WORD.finditer(name.replace("&amp;", "&")))


def _bare(word: str) -> str:
    """A word without its possessive: "JetBlue's" names JetBlue; names and text both lose it
    ("McDonald's" is "McDonald")."""
    return word[:-2] if word.endswith(("'s", "’s")) else word


def competitors_named(market: Market, text: str, hint: str | None = None,
                      own_words: frozenset[str] = frozenset()) -> list[str]:
    """The words of a post that name a company competing with the one it addresses.

    A named company counts when it is not the addressed one (nor one of `own_words`, the
    configured brand's names) and shares a sector with it; when the directory does not know
    the addressed company, a named company counts only where the post moves to it
    (`switch_targets`), since any sector may be the brand's."""
    own = market.addressed(text, hint)
    words: list[str] = []
    for n in market.named(text):
        if (n.company is None or n.words.lower() in own_words
                or (own is not None and n.company.owner == own.owner)):
            continue
        if own is not None and n.company.sectors & own.sectors:
            words.append(n.words.lower())
    if own is None or not words:
        words += [w for w in switch_targets(text, left=True) if not _names_own(market, w, own, own_words)]
    return sorted(set(words))


def _names_own(market: Market, words: str, own: Company | None, own_words: frozenset[str]) -> bool:
    if words.lower() in own_words:
        return True
    if own is None:
        return False
    if words.startswith("#fly"):  # "#flySWA" to @SouthwestAir: the brand's own tag
        tail = words[4:]
        companies = [market.by_handle(tail) or market.by_name(tail)]
    elif words.startswith("@"):
        companies = [market.by_handle(words)]
    else:
        companies = [n.company for n in market.named(words)]
    return any(c is not None and c.owner == own.owner for c in companies)


#: Words that move custom to another company, then that company's name: capitalised words
#: or a handle ("switching back to Delta", "going with Verizon" but not "going to Aruba",
#: "moving my mortgage to Crestline Credit Union", "JetBlue here I come", "Me voy a Corvane",
#: "ich wechsle zu Telenet"), or leave ("switched from AT&T", "wish I'd used Lyft", "Delta would
#: have done better").
_NAME = r"(?:@\w+|(?-i:[A-Z][\w&'’.+-]*)(?:\s+(?-i:[A-Z][\w&'’.+-]*)){0,3})"
_SWITCH_TO = re.compile(
    rf"\b(?:(?:switch(?:ed|ing)?|mov(?:e|ed|ing)|port(?:ed|ing)?|transferr?(?:ed|ing)?|chang(?:e|ed|ing))"
    rf"(?:\s+(?:back|over|everything|my\s+\w+|our\s+\w+|all\s+my\s+\w+))?\s+(?:to|with)"
    rf"|(?:went|go(?:ing)?|stick(?:ing)?)(?:\s+back)?\s+with)\s+(?P<a>{_NAME})"
    rf"|(?P<b>{_NAME})\s+here\s+i\s+come\b"
    rf"|\b(?:switch(?:ed|ing)?|mov(?:e|ed|ing)|port(?:ed|ing)?|transferr?(?:ed|ing)?|came|coming)(?:\s+over)?\s+from\s+(?P<d>{_NAME})"
    rf"|\b(?:wish\s+(?:i|we)(?:'d|\s+had)|(?:i|we)\s+should(?:'ve|\s+have))\s+(?:used|flown|booked|gone|stayed|stuck)(?:\s+with)?\s+(?P<e>{_NAME})"
    rf"|(?P<f>{_NAME})\s+(?:would|will|could)\s+(?:have\s+)?(?:do|did|done)\s+(?:a\s+)?(?:better|this\s+better)"
    rf"|\b(?:me\s+(?:voy|paso|cambio)\s+a|me\s+cambio\s+de\s+\w+\s+a|je\s+(?:passe|pars)\s+chez|"
    rf"ich\s+wechsle\s+zu|wechsle\s+zu|vou\s+(?:mudar\s+)?para\s+a?|mudei\s+para\s+a?)\s+(?P<c>{_NAME})",
    re.IGNORECASE)
#: Capitalised words that start a sentence or name no company after a move ("going to Hawaii"
#: is travel, "switched to Airplane mode" a setting): the common ones, left out.
_NOT_A_COMPANY = frozenset({
    "i", "the", "a", "my", "you", "your", "me", "it", "this", "that", "them", "their", "our", "we", "he", "she",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "tomorrow", "tonight",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "christmas", "airplane", "wifi", "wi-fi", "lte", "manual", "another", "other",
    "customer", "service", "support", "twitter", "facebook", "instagram", "dm", "dms", "email", "chat",
    "hawaii", "florida", "california", "texas", "new", "york", "london", "paris", "chicago", "vegas", "la",
    "europe", "canada", "mexico", "boston", "denver", "dallas", "atlanta", "miami", "orlando", "seattle", "home",
    "work", "bed", "sleep", "google", "gmail", "ios", "android", "windows", "mac", "pc", "cash", "check",
})


#: Parts of words one of which every `_SWITCH_TO` match holds.
_SWITCH_GATE = ("switch", "mov", "port", "transfer", "chang", "with", "here i come", "me voy", "me paso", "me cambio",
                "je passe", "je pars", "wechsle", "vou ", "mudei", "came from", "came over from", "coming from",
                "coming over from", "wish", "should've", "should have", "do better", "did better", "done better",
                "a better", "this better")


def switch_targets(text: str, *, left: bool = False) -> list[str]:
    """The names a post says it moves to, lowercased ("switching to T-Mobile" → "t-mobile"),
    and with `left` also the ones it moved away from ("switched from AT&T"): a rival all the
    same, but no sign that the author leaves the addressed company (churn reads moves only)."""
    lowered = text.lower()
    if not any(w in lowered for w in _SWITCH_GATE):
        return []  # the pattern costs ~20 µs a post; a substring test a tenth of that
    out = []
    for m in _SWITCH_TO.finditer(text.replace("&amp;", "&")):  # tweets arrive HTML-escaped: "AT&amp;T"
        if m.group("d") and not left:
            continue
        name = next((g for g in m.groups() if g), "").strip(".,!?;:'’")
        if name and name.lstrip("@").split()[0].lower() not in _NOT_A_COMPANY and not name.lstrip("@")[0].isdigit():
            out.append(name.lower())
    return out


def market_path(path: str | None = None) -> Path:
    """The directory file in force: the configuration's `companies`, else the shipped one."""
    return Path(path) if path else DEFAULT_COMPANIES


@lru_cache(maxsize=8)
def load_market(path: str | None = None) -> Market:
    """The directory at `path` (default: the shipped `config/companies.json`). Raises
    ValueError naming the file when a company has no name."""
    source = market_path(path)
    raw = json.loads(source.read_text(encoding="utf-8"))
    sectors_of: dict[str, set[str]] = {}
    entries: dict[str, dict[str, set[str]]] = {}
    for sector, companies in raw.get("sectors", {}).items():
        for entry in companies:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise ValueError(f"{source}: every company of sector {sector!r} needs a non-empty 'name'")
            sectors_of.setdefault(entry["name"], set()).add(sector)
            merged = entries.setdefault(entry["name"], {"names": set(), "handles": set(), "cased": set(), "group": set()})
            merged["group"].update([entry["group"]] if entry.get("group") else [])
            merged["names"].update(entry.get("names", ()))
            merged["handles"].update(h.lstrip("@").lower() for h in entry.get("handles", ()))
            merged["cased"].update(entry.get("cased", ()))
    return Market((Company(name, frozenset(sectors_of[name]), frozenset(e["handles"]), min(e["group"], default="")),
                   tuple(sorted(e["names"] - e["cased"])), tuple(sorted(e["cased"])))
                  for name, e in entries.items())


def not_the_addressed(market: Market, text: str, words: list[str], hint: str | None = None) -> list[str]:
    """`words` (competitor cues) less those that name the addressed company's own group: a
    post to @USAirways naming @AmericanAir names the airline that owns it, not a rival."""
    own = market.addressed(text, hint)
    if own is None:
        return words
    return [w for w in words if not _names_own(market, w, own, frozenset())]


def companies_only(market: Market, text: str, words: list[str]) -> list[str]:
    """`words` (handle cues of `concepts.rival_cues`) less the handles the directory does not
    know, unless the post moves to them ("switching to @Corvane"), and those of a sector the
    addressed company is not in.

    Why: a handle next to words that compare is a company when the directory holds it; an
    unknown one is mostly a person ("@Dawn_Davis You're very welcome … Let's do it again"):
    on the dev and retired test halves 5 of the 9 competitor flags raised on posts that do
    not tag two airlines were such handles, none of them a company."""
    if not words:
        return words
    moved = {w.lstrip("@") for w in switch_targets(text, left=True)} | {m.group(1).lower() for m in _MOVE_TO_HANDLE.finditer(text)}
    own = market.addressed(text)
    kept = []
    for w in words:
        company = market.by_handle(w) if w.startswith("@") else None
        if company is not None and own is not None and not company.sectors & own.sectors:
            continue  # a partner or an unrelated company ("@JetBlue saved the day :) @Expedia lost a customer")
        if not w.startswith("@") or company is not None or w.lstrip("@") in moved:
            kept.append(w)
    return kept


_MOVE_TO_HANDLE = re.compile(r"\b(?:fly|flying|flew|switch\w*(?:\s+back)?\s+to|mov\w+(?:\s+\w+)?\s+to|go(?:ing)?\s+with|"
                             r"back\s+to)\s+@(\w+)", re.IGNORECASE)
