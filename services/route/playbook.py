"""The reply playbook: a suggested first reply per case, and a closing note after resolution.

Social-care playbooks agree on the shape of a good first public reply: address the person
by name, say who is answering, apologise for the experience without admitting fault, move
the conversation to a private channel, fit the channel's length, and never negotiate in
public (no prices, refunds or promises). Templates per intent and department live in
configuration; `check_reply` enforces the rules on whatever an operator writes there.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import ConfigError

_FORBIDDEN_PUBLIC = re.compile(
    r"[$€£¥]\s?\d|\d+(?:[.,]\d+)?\s?(?:usd|eur|gbp|dollars|euros|pounds)\b|\brefund(?:s|ed)?\b|\bcompensat\w*|"
    r"\bguarantee\w*|\bpromise\w*|\bwe will (?:credit|pay|reimburse)|\bfree of charge\b", re.IGNORECASE)
_FAULT_ADMISSION = re.compile(r"\bour fault\b|\bwe made a mistake\b|\bwe are liable\b|\bour error\b|\bwe messed up\b",
                              re.IGNORECASE)
_APOLOGY = re.compile(r"\b(sorry|apologi[sz]e)\b", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Playbook:
    brand: str
    signature: str
    private_channel: dict[str, str]
    limits: dict[str, int]
    templates: dict[str, dict[str, str]]
    closure: dict[str, str]

    @classmethod
    def load(cls, path: Path | None = None) -> Playbook:
        text = (path.read_text() if path else
                resources.files("services.route").joinpath("config", "playbook.yaml").read_text())
        try:
            data = yaml.safe_load(text)
            book = cls(brand=str(data["brand"]), signature=str(data.get("signature", "")),
                       private_channel=dict(data["private_channel"]), limits={k: int(v) for k, v in data["limits"].items()},
                       templates={k: dict(v) for k, v in data["templates"].items()}, closure=dict(data["closure"]))
        except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"playbook {path or '(shipped)'} is invalid: {exc}") from exc
        for intent in book.templates:  # refuse a playbook whose own templates break the rules
            for department in book.templates[intent]:
                sample = book.render(intent, department, {"channel": "x", "author_name": "Alexandra",
                                                          "author_handle": "alexandra_longname", "public": True,
                                                          "mentions": []})
                problems = check_reply(sample["text"], public=True, limit=book.limits.get("x", 280),
                                       complaint=intent == "complaint", brand=book.brand, name="Alexandra")
                if problems:
                    raise ConfigError(f"playbook template {intent}/{department} breaks the rules: {problems}")
        return book

    def _name(self, case: dict[str, Any]) -> str:
        name = (case.get("author_name") or "").strip()
        if name:
            return name.split()[0]
        handle = (case.get("author_handle") or "").lstrip("@")
        return f"@{handle}" if handle else "there"

    def render(self, intent: str, department: str, case: dict[str, Any], closing: bool = False) -> dict[str, Any]:
        pool = self.closure if closing else self.templates.get(intent) or self.templates["other"]
        template = pool.get(department) or pool["default"]
        reference = _reference(case) if not closing else ""
        values = {"name": self._name(case), "brand": self.brand, "signature": self.signature,
                  "private_channel": self.private_channel.get(department, self.private_channel["default"]),
                  "reference": reference}
        channel = case.get("channel") or "default"
        limit = self.limits.get(channel, self.limits.get("default", 1000))
        text = template.format(**values)
        if len(text) > limit and reference:
            text = template.format(**{**values, "reference": ""})
        if len(text) > limit and self.signature:
            text = template.format(**{**values, "reference": "", "signature": ""}).strip()
        if len(text) > limit:  # cut at the last sentence that fits, never mid-word
            cut = text[:limit]
            text = cut[: max(cut.rfind(". "), cut.rfind("! ")) + 1] or cut.rsplit(" ", 1)[0]
        return {"text": text.strip(), "channel": channel, "limit": limit, "public": bool(case.get("public", True)),
                "intent": intent, "department": department, "kind": "closure" if closing else "first_reply"}

    def suggest(self, case: dict[str, Any]) -> dict[str, Any]:
        """The next reply the playbook suggests: a first reply, or the public closure after resolution."""
        mentions = case.get("mentions") or []
        intent = (mentions[0].get("classification") or {}).get("intent", "other") if mentions else "other"
        return self.render(intent, case.get("department", "support"), case, closing=case.get("status") == "resolved")


def _reference(case: dict[str, Any]) -> str:
    for mention in case.get("mentions") or []:
        for entity in (mention.get("classification") or {}).get("entities") or []:
            if entity.get("label") == "order_id" and re.fullmatch(r"[A-Za-z0-9-]{3,20}", str(entity.get("value"))):
                return f" with order {entity['value']}"
    return ""


def check_reply(text: str, *, public: bool, limit: int, complaint: bool, brand: str, name: str) -> list[str]:
    """Every playbook rule the reply breaks (empty: it follows the playbook)."""
    problems = []
    if name.lstrip("@").split()[0].lower() not in text.lower():
        problems.append("does not address the customer by name or handle")
    if brand.lower() not in text.lower():
        problems.append("does not say which brand is answering")
    if complaint and not _APOLOGY.search(text):
        problems.append("a complaint gets an apology")
    if _FAULT_ADMISSION.search(text):
        problems.append("admits fault in writing")
    if public and _FORBIDDEN_PUBLIC.search(text):
        problems.append("names a price, refund or promise in public")
    if len(text) > limit:
        problems.append(f"longer than the channel's {limit} characters")
    return problems
