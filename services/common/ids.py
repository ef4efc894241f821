"""Identifiers: deterministic mention ids and time-ordered ids for everything else."""

from __future__ import annotations

import os
import time
import uuid

#: Namespace of mention ids. Never change it: ids derived from it are stored and published.
MENTION_NAMESPACE = uuid.UUID("3f0c8f9e-5b1a-4c47-9d0e-7f6a2b1c9e11")


def mention_id(channel: str, external_id: str) -> str:
    """Deterministic id of a mention: the same post delivered twice gets the same id.

    Deriving it (UUIDv5) from the channel and the platform's own id is what makes a
    redelivery - a webhook retry, a replay, a broker redelivery - collapse into one row.
    """
    return str(uuid.uuid5(MENTION_NAMESPACE, f"{channel}\x1f{external_id}"))


def uuid7() -> str:
    """A time-ordered UUIDv7 (RFC 9562), so ids sort by creation time in indexes."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
