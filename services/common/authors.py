"""Reading the canonical author's follower count, where "unknown" and "zero" differ."""

from __future__ import annotations

from typing import Any


def followers_of(author: dict[str, Any]) -> int | None:
    """The author's follower count, or None when the platform sent none.

    v1 events carry `followers` as an integer (subscribers parse it as one), so an unknown
    count is written `followers: 0, followers_known: false`; records from before the flag
    existed have no `followers_known` and are read as known.
    """
    if author.get("followers_known") is False or ("followers" in author and author["followers"] is None):
        return None
    return int(author.get("followers") or 0)
