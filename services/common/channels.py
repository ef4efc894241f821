"""The channels Heatdesk hears. A bounded set: it is a metric label and a routing field."""

from __future__ import annotations

CHANNELS: tuple[str, ...] = (
    "x", "facebook", "instagram", "email", "review", "blog", "forum", "call_center", "chat", "other",
)


def conversation_key(channel: str, author_id: str) -> str:
    """Kafka key of raw and classified mentions: one customer's posts stay in one partition."""
    return f"{channel}:{author_id}"
