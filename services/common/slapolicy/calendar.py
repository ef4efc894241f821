"""Business-hours calendars: when an SLA clock runs, and the maths of due times.

A calendar is a time zone, the open hours of each weekday and a set of holidays (or
24/7). SLA targets count *business* seconds: a four-hour target on a Friday 16:00 ticket
of a 09:00-17:00 desk falls due on Monday 12:00. Open hours are local wall-clock times,
so across a daylight-saving change 09:00-17:00 stays 09:00-17:00 local (eight real hours);
business seconds are always real elapsed seconds inside open intervals. A local time that
does not exist on a spring-forward day is read with the offset before the change (PEP 495
`fold=0`), which keeps every interval well ordered.

The walk is per local day with a small per-day cache, so the cost of a due time grows with
the days it spans, not with its seconds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAY: tuple[tuple[int, int], ...] = ((0, 1440),)
#: How far a due time may lie: beyond it a calendar is taken to have no open hours at all.
MAX_DAYS = 3 * 366

Interval = tuple[datetime, datetime]


class CalendarError(ConfigError):
    """A calendar cannot produce a due time (no open hours within three years, unknown zone).

    Fix the calendar in the policies file; the service keeps the last good policies meanwhile.
    """


@dataclasses.dataclass(frozen=True, eq=False)
class Calendar:
    """Open hours in minutes after local midnight per weekday (Monday first), holidays as local dates."""

    name: str = "24/7"
    timezone: str = "UTC"
    weekly: tuple[tuple[tuple[int, int], ...], ...] = (ALL_DAY,) * 7
    holidays: frozenset[date] = frozenset()
    _tz: ZoneInfo = dataclasses.field(init=False, repr=False)
    _days: dict[date, list[Interval]] = dataclasses.field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_tz", ZoneInfo(self.timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"calendar {self.name!r}: unknown time zone {self.timezone!r}") from exc
        if len(self.weekly) != 7:
            raise CalendarError(f"calendar {self.name!r}: needs open hours for 7 weekdays")
        if not any(self.weekly):
            raise CalendarError(f"calendar {self.name!r}: has no open hours on any weekday")

    @functools.cached_property
    def always_open(self) -> bool:
        """24/7 without holidays: due times are plain additions (asked for every due time)."""
        return not self.holidays and all(day == ALL_DAY for day in self.weekly)

    def describe(self) -> str:
        if self.always_open:
            return "24/7"
        return f"{self.timezone}, {sum(e - s for d in self.weekly for s, e in d) / 60:g} h a week, {len(self.holidays)} holidays"

    # -- the per-day intervals ---------------------------------------------------------------

    def _day(self, day: date) -> list[Interval]:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        out: list[Interval] = []
        if day not in self.holidays:
            for start_min, end_min in self.weekly[day.weekday()]:
                start = datetime.combine(day, time(start_min // 60, start_min % 60), self._tz).astimezone(UTC)
                end_day = day + timedelta(days=end_min // 1440)
                end_min %= 1440
                end = datetime.combine(end_day, time(end_min // 60, end_min % 60), self._tz).astimezone(UTC)
                if end > start:
                    out.append((start, end))
        if len(self._days) > 4096:
            self._days.clear()
        self._days[day] = out
        return out

    def intervals_from(self, start: datetime, until: datetime | None = None) -> Iterator[Interval]:
        """Open intervals (UTC) from `start` on (up to `until`), the first clipped to start at `start`.

        Raises CalendarError after MAX_DAYS days in a row without an open interval: a
        calendar whose holidays cover years has no due time to give.
        """
        day = start.astimezone(self._tz).date() - timedelta(days=1)
        last = until.astimezone(self._tz).date() + timedelta(days=1) if until is not None else None
        closed_days = 0
        while last is None or day <= last:
            found = False
            for s, e in self._day(day):
                if e > start:
                    found = True
                    yield (max(s, start), e)
            closed_days = 0 if found else closed_days + 1
            if closed_days > MAX_DAYS:
                raise CalendarError(f"calendar {self.name!r}: no open hours within {MAX_DAYS} days of "
                                    f"{start.isoformat()}")
            day += timedelta(days=1)

    # -- the maths SLA clocks need ------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        return any(s <= at < e for s, e in self._day(at.astimezone(self._tz).date()))

    def next_open(self, at: datetime) -> datetime:
        """`at` when open, else the start of the next open interval."""
        if self.always_open:
            return at
        return next(self.intervals_from(at))[0]

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Open seconds in [start, end); 0 when end is not after start."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        total = 0.0
        for s, e in self.intervals_from(start, end):
            if s >= end:
                break
            total += (min(e, end) - s).total_seconds()
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant `seconds` open seconds after `start` (start itself for 0 or less)."""
        return self.add_many(start, [seconds])[0]

    def add_many(self, start: datetime, offsets: Sequence[float]) -> list[datetime]:
        """`add` for several offsets in one walk; offsets in any order, results in the same order."""
        if self.always_open:
            return [start + timedelta(seconds=max(0.0, o)) for o in offsets]
        order = sorted(range(len(offsets)), key=lambda i: offsets[i])
        out: list[datetime | None] = [None] * len(offsets)
        pending = [i for i in order if offsets[i] > 0]
        for i in order:
            if offsets[i] <= 0:
                out[i] = start
        if pending:
            consumed = 0.0
            k = 0
            for s, e in self.intervals_from(start):
                span = (e - s).total_seconds()
                while k < len(pending) and offsets[pending[k]] - consumed <= span:
                    out[pending[k]] = s + timedelta(seconds=offsets[pending[k]] - consumed)
                    k += 1
                if k == len(pending):
                    break
                consumed += span
        return [o for o in out if o is not None]


TWENTY_FOUR_SEVEN = Calendar()


def parse_clock(text: str) -> int:
    """`09:30` → 570 minutes; `24:00` allowed as an end."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time like 09:00")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 1440:
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 24:00")
    return value


def parse_ranges(spec: object) -> tuple[tuple[int, int], ...]:
    """`09:00-17:00`, a list of them, `closed`, or `24h` → sorted, non-overlapping minute ranges."""
    if isinstance(spec, str) and spec.strip().lower() in ("closed", "off", "none"):
        return ()
    if isinstance(spec, str) and spec.strip().lower() in ("24h", "all day", "00:00-24:00"):
        return ALL_DAY
    items = spec if isinstance(spec, list) else [spec]
    ranges = []
    for item in items:
        if not isinstance(item, str) or "-" not in item:
            raise ValueError(f"{item!r} is not a range like 09:00-17:00")
        start_text, _, end_text = item.partition("-")
        start, end = parse_clock(start_text), parse_clock(end_text)
        if end <= start:
            raise ValueError(f"{item!r} ends before it starts (split a night shift at midnight)")
        ranges.append((start, end))
    ranges.sort()
    for (_, prev_end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < prev_end:
            raise ValueError(f"ranges {spec!r} overlap")
    return tuple(ranges)


def parse_days(spec: str) -> list[int]:
    """`mon-fri`, `sat,sun`, `daily`, `weekdays`, `weekend` → weekday numbers (Monday 0)."""
    text = spec.strip().lower()
    if text in ("daily", "every day", "all"):
        return list(range(7))
    if text == "weekdays":
        return list(range(5))
    if text == "weekend":
        return [5, 6]
    days: list[int] = []
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
            raise ValueError(f"{spec!r} is not a weekday, range or list of them (mon-fri, sat,sun, daily)")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last) if sep else WEEKDAYS.index(first)
        if b < a:
            raise ValueError(f"{spec!r} runs backwards; write it as two ranges")
        days.extend(range(a, b + 1))
    return days
