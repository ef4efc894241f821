"""The facts a rule can test, flattened from a classified mention and its author's history.

One flat mapping keeps rule matching a dictionary lookup and makes `rules explain` show
exactly what the rules saw.
"""

from __future__ import annotations

from typing import Any

from services.common.authors import followers_of


def facts(mention: dict[str, Any], classification: dict[str, Any],
          repeat: dict[str, int] | None = None) -> dict[str, Any]:
    author = mention.get("author") or {}
    repeat = repeat or {}
    entities = classification.get("entities") or []
    return {
        "channel": mention.get("channel"),
        "language": mention.get("language"),
        "kind": mention.get("kind", "post"),
        "text": (mention.get("text") or "").lower(),
        "followers": followers_of(author),  # None when the platform sent no count: no number test holds
        "hashtags": {t.lower() for t in mention.get("hashtags") or ()},
        "mentioned": {h.lower() for h in mention.get("mentioned_accounts") or ()},
        "stream_tags": {t.lower() for t in mention.get("stream_tags") or ()},
        "verified": bool(author.get("verified")),
        "intent": classification.get("intent"),
        "sentiment": (classification.get("sentiment") or {}).get("label"),
        "sentiment_score": float((classification.get("sentiment") or {}).get("score") or 0.0),
        "flags": set(classification.get("flags") or []),
        "department": classification.get("department"),
        "department_scores": dict(classification.get("department_scores") or {}),
        "priority": (classification.get("priority") or {}).get("bucket"),
        "priority_score": int((classification.get("priority") or {}).get("score") or 0),
        "entities": {str(e.get("label")) for e in entities if isinstance(e, dict)},
        "entity_values": {(str(e.get("label")), str(e.get("value")).lower()) for e in entities if isinstance(e, dict)},
        "repeat_cases": int(repeat.get("cases", 0)),
        "repeat_complaints": int(repeat.get("complaints", 0)),
        "reposts": int(((mention.get("metrics") or {}).get("reposts")) or 0),
    }
