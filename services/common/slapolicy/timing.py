"""An SLA clock: business seconds accumulated over running periods, with pauses.

The clock keeps what has been spent (`elapsed_s`, business seconds up to `resumed_at`) and
whether it runs now (`resumed_at` set) or is paused (None). Every due time is derived from
those two and the calendar, so a pause, a resume or a changed target only moves the
future, never rewrites what was already measured. Times passed in are clamped to never
run backwards: events that arrive late must not make a clock un-spend time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from services.common.slapolicy.calendar import Calendar


@dataclasses.dataclass
class SlaClock:
    kind: str
    cycle: int
    started_at: datetime
    target_s: float
    elapsed_s: float = 0.0
    resumed_at: datetime | None = None
    last_change_at: datetime | None = None

    @classmethod
    def start(cls, kind: str, cycle: int, at: datetime, target_s: float, *, paused: bool = False) -> SlaClock:
        return cls(kind, cycle, at, target_s, 0.0, None if paused else at, at)

    @property
    def running(self) -> bool:
        return self.resumed_at is not None

    def _clamp(self, at: datetime) -> datetime:
        return at if self.last_change_at is None or at >= self.last_change_at else self.last_change_at

    def elapsed(self, at: datetime, calendar: Calendar) -> float:
        """Business seconds spent by `at`."""
        if self.resumed_at is None:
            return self.elapsed_s
        return self.elapsed_s + calendar.business_seconds(self.resumed_at, self._clamp(at))

    def pause(self, at: datetime, calendar: Calendar) -> bool:
        """Stop counting at `at`; False when already paused."""
        if self.resumed_at is None:
            return False
        at = self._clamp(at)
        self.elapsed_s = self.elapsed(at, calendar)
        self.resumed_at = None
        self.last_change_at = at
        return True

    def resume(self, at: datetime) -> bool:
        """Count again from `at`; False when already running."""
        if self.resumed_at is not None:
            return False
        at = self._clamp(at)
        self.resumed_at = at
        self.last_change_at = at
        return True

    def start_earlier(self, at: datetime, calendar: Calendar) -> bool:
        """The clock should have started at `at`, before its start: an earlier post of the
        case arrived late. The time between was owed to the customer, so it counts as spent;
        False when `at` is not earlier."""
        if at >= self.started_at:
            return False
        self.elapsed_s += calendar.business_seconds(at, self.started_at)
        self.started_at = at
        return True

    def times(self, offsets: Sequence[float], calendar: Calendar) -> list[datetime | None]:
        """When the clock reaches each offset (business seconds since its start).

        None while paused. An offset already spent maps to `resumed_at`: it is due now, and
        firing it again is harmless because each step fires once by its key.
        """
        if self.resumed_at is None:
            return [None] * len(offsets)
        return list(calendar.add_many(self.resumed_at, [o - self.elapsed_s for o in offsets]))

    def due(self, calendar: Calendar) -> datetime | None:
        """When the target is reached (None while paused)."""
        return self.times([self.target_s], calendar)[0]
