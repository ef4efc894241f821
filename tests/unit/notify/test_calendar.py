"""Business-hours maths: weekends, holidays, DST changes, pauses and resumes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.slapolicy import TWENTY_FOUR_SEVEN, Calendar, CalendarError, SlaClock
from services.common.slapolicy.calendar import ALL_DAY, parse_days, parse_ranges

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
NINE_TO_FIVE = ((9 * 60, 17 * 60),)
WEEKDAYS_ONLY = (NINE_TO_FIVE,) * 5 + ((), ())


def office(tz: str = "America/New_York", holidays: frozenset[date] = frozenset()) -> Calendar:
    return Calendar("office", tz, WEEKDAYS_ONLY, holidays)


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def test_twenty_four_seven_is_plain_addition():
    start = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)
    assert TWENTY_FOUR_SEVEN.always_open
    assert TWENTY_FOUR_SEVEN.add(start, 7200) == start + timedelta(hours=2)
    assert TWENTY_FOUR_SEVEN.business_seconds(start, start + timedelta(days=3)) == 3 * 86400


def test_friday_afternoon_target_lands_on_monday_across_the_weekend():
    cal = office()
    friday_4pm = local(NY, 2026, 1, 30, 16, 0)
    assert cal.add(friday_4pm, 4 * 3600) == local(NY, 2026, 2, 2, 12, 0)  # 1 h Friday + 3 h Monday
    assert cal.business_seconds(friday_4pm, local(NY, 2026, 2, 2, 12, 0)) == 4 * 3600


def test_a_ticket_opened_on_saturday_starts_counting_monday_morning():
    cal = office()
    saturday = local(NY, 2026, 1, 31, 11, 0)
    assert not cal.is_open(saturday)
    assert cal.next_open(saturday) == local(NY, 2026, 2, 2, 9, 0)
    assert cal.add(saturday, 1800) == local(NY, 2026, 2, 2, 9, 30)
    assert cal.business_seconds(saturday, local(NY, 2026, 2, 1, 23, 0)) == 0


def test_holidays_are_skipped():
    cal = office("Europe/London", frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
    thursday_4pm = local(LONDON, 2026, 12, 24, 16, 0)
    # Thu 1 h, Fri 25th holiday, weekend, Mon 28th holiday: the rest on Tuesday.
    assert cal.add(thursday_4pm, 3 * 3600) == local(LONDON, 2026, 12, 29, 11, 0)
    without = office("Europe/London")
    assert without.add(thursday_4pm, 3 * 3600) == local(LONDON, 2026, 12, 25, 11, 0)


def test_office_hours_stay_local_across_the_spring_dst_change():
    cal = office()  # US DST starts Sunday 2026-03-08
    friday_4pm = local(NY, 2026, 3, 6, 16, 0)  # 21:00 UTC (EST)
    due = cal.add(friday_4pm, 2 * 3600)
    assert due == local(NY, 2026, 3, 9, 10, 0)  # 14:00 UTC (EDT): still 10:00 local
    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert cal.business_seconds(friday_4pm, due) == 2 * 3600


def test_round_the_clock_calendar_counts_the_real_hours_of_dst_days():
    cal = Calendar("ny-24h", "America/New_York", (ALL_DAY,) * 7, frozenset({date(2030, 1, 1)}))  # not always_open
    assert not cal.always_open
    spring = cal.business_seconds(local(NY, 2026, 3, 7, 12, 0), local(NY, 2026, 3, 9, 12, 0))
    autumn = cal.business_seconds(local(NY, 2026, 10, 31, 12, 0), local(NY, 2026, 11, 2, 12, 0))
    assert spring == 47 * 3600 and autumn == 49 * 3600
    start = local(NY, 2026, 3, 7, 12, 0)
    assert cal.add(start, 47 * 3600) == local(NY, 2026, 3, 9, 12, 0)


def test_a_local_time_that_does_not_exist_keeps_intervals_ordered():
    # 01:30 on 2026-03-29 does not exist in London (clocks jump 01:00 -> 02:00).
    cal = Calendar("night", "Europe/London", (((90, 180),),) * 7)
    assert cal.business_seconds(datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)) == 1800
    assert cal.business_seconds(datetime(2026, 3, 28, 0, 0, tzinfo=UTC), datetime(2026, 3, 28, 6, 0, tzinfo=UTC)) == 5400


def test_add_many_matches_add_in_any_order():
    cal = office("Europe/London", frozenset({date(2026, 12, 25)}))
    start = local(LONDON, 2026, 12, 23, 15, 0)
    offsets = [40 * 3600, 60, 0, 8 * 3600, 3 * 3600, 7.5 * 3600]
    assert cal.add_many(start, offsets) == [cal.add(start, o) for o in offsets]


@settings(max_examples=150, deadline=None)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
       seconds=st.floats(min_value=1, max_value=30 * 86400, allow_nan=False))
def test_business_seconds_inverts_add(start, seconds):
    cal = office("America/New_York", frozenset({date(2026, 7, 3), date(2026, 12, 25)}))
    due = cal.add(start, seconds)
    assert cal.business_seconds(start, due) == pytest.approx(seconds, abs=1e-3)
    assert cal.is_open(due - timedelta(microseconds=1)) or cal.is_open(due)


def test_pause_and_resume_move_the_due_time_by_the_business_time_waited():
    cal = office()
    opened = local(NY, 2026, 1, 30, 16, 0)  # Friday 16:00
    clock = SlaClock.start("resolution", 0, opened, 2 * 3600)
    assert clock.due(cal) == local(NY, 2026, 2, 2, 10, 0)
    clock.pause(local(NY, 2026, 1, 30, 16, 30), cal)  # waits on the customer after 30 min
    assert clock.elapsed_s == 1800 and clock.due(cal) is None
    clock.resume(local(NY, 2026, 2, 3, 9, 0))  # the customer answers Tuesday 09:00
    assert clock.due(cal) == local(NY, 2026, 2, 3, 10, 30)
    assert clock.elapsed(local(NY, 2026, 2, 3, 10, 0), cal) == 1800 + 3600


def test_pause_outside_hours_counts_only_open_time_and_late_events_never_unspend_time():
    cal = office()
    clock = SlaClock.start("first_response", 0, local(NY, 2026, 1, 30, 16, 0), 4 * 3600)
    assert clock.pause(local(NY, 2026, 1, 31, 12, 0), cal)  # Saturday: only Friday's hour counted
    assert clock.elapsed_s == 3600
    assert not clock.pause(local(NY, 2026, 2, 1, 12, 0), cal)  # already paused
    assert clock.resume(local(NY, 2026, 1, 30, 16, 30))  # an event from before the pause: clamped
    assert clock.resumed_at == local(NY, 2026, 1, 31, 12, 0)
    assert clock.due(cal) == local(NY, 2026, 2, 2, 12, 0)


def test_a_spent_offset_is_due_at_once_after_resume():
    clock = SlaClock.start("first_response", 0, datetime(2026, 1, 1, tzinfo=UTC), 600)
    clock.pause(datetime(2026, 1, 1, 0, 20, tzinfo=UTC), TWENTY_FOUR_SEVEN)
    clock.resume(datetime(2026, 1, 2, tzinfo=UTC))
    assert clock.times([300, 600, 1800], TWENTY_FOUR_SEVEN) == [
        datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, 0, 10, tzinfo=UTC)]


@pytest.mark.parametrize("spec,expected", [
    ("mon-fri", [0, 1, 2, 3, 4]), ("sat,sun", [5, 6]), ("daily", list(range(7))), ("weekend", [5, 6]),
    ("tue", [1]), ("mon-wed,fri", [0, 1, 2, 4])])
def test_parse_days(spec, expected):
    assert parse_days(spec) == expected


@pytest.mark.parametrize("spec", ["fri-mon", "monday", "mon-", ""])
def test_parse_days_refuses(spec):
    with pytest.raises(ValueError):
        parse_days(spec)


def test_parse_ranges():
    assert parse_ranges("09:00-17:00") == ((540, 1020),)
    assert parse_ranges(["13:00-17:30", "08:00-12:00"]) == ((480, 720), (780, 1050))
    assert parse_ranges("closed") == () and parse_ranges("24h") == ALL_DAY
    assert parse_ranges("00:00-24:00") == ALL_DAY
    for bad in ("17:00-09:00", "9-5", "09:00-25:00", ["09:00-12:00", "11:00-13:00"], "09:60-10:00"):
        with pytest.raises(ValueError):
            parse_ranges(bad)


def test_calendar_refuses_unknown_zone_and_no_hours():
    with pytest.raises(CalendarError, match="unknown time zone"):
        Calendar("x", "Mars/Olympus", WEEKDAYS_ONLY)
    with pytest.raises(CalendarError, match="no open hours"):
        Calendar("x", "UTC", ((),) * 7)


def test_business_seconds_over_years_and_a_calendar_closed_for_years():
    cal = office()
    start, end = datetime(2011, 8, 29, 3, 0, tzinfo=UTC), datetime(2017, 10, 30, 3, 0, tzinfo=UTC)
    weeks = (end - start).days / 7
    assert cal.business_seconds(start, end) == pytest.approx(weeks * 40 * 3600, rel=0.01)
    closed = Calendar("closed", "UTC", WEEKDAYS_ONLY, frozenset(date(2026, 1, 1) + timedelta(days=d) for d in range(1200)))
    with pytest.raises(CalendarError, match="no open hours within"):
        closed.add(datetime(2026, 1, 1, tzinfo=UTC), 60)
    assert closed.business_seconds(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == 0
