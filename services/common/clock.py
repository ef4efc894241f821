"""One clock abstraction for SLA maths: wall time live, event time in replays and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    """Live mode: deadlines are compared with the real current time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock a test or a replay moves explicitly (event time)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, value: datetime) -> None:
        if value > self._now:
            self._now = value
