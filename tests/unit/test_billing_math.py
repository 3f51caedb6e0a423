"""Billing-period date math: month ends, leap years, the anchor day that must not drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellplane.domain.billing import (
    MAX_PERIODS,
    Span,
    add_months,
    anchor_day,
    first_active_period,
    next_active_period,
    periods_through,
    ready_period,
    truncate,
)


def at(year: int, month: int, day: int, hour: int = 13, minute: int = 18, second: int = 15) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(2021, 6, 9), 1, at(2021, 7, 9)),
        (at(2023, 1, 31), 1, at(2023, 2, 28)),
        (at(2024, 1, 31), 1, at(2024, 2, 29)),
        (at(2024, 1, 30), 1, at(2024, 2, 29)),
        (at(2023, 3, 31), 1, at(2023, 4, 30)),
        (at(2023, 12, 15), 1, at(2024, 1, 15)),
        (at(2023, 11, 30), 3, at(2024, 2, 29)),
        (at(2024, 2, 29), 12, at(2025, 2, 28)),
        (at(2023, 12, 31), 14, at(2025, 2, 28)),
    ],
)
def test_add_months_clamps_to_month_end(start: datetime, months: int, expected: datetime) -> None:
    assert add_months(start, months) == expected


def test_add_months_keeps_time_of_day_and_zone() -> None:
    moved = add_months(datetime(2023, 1, 31, 23, 59, 59, tzinfo=UTC), 1)
    assert (moved.hour, moved.minute, moved.second, moved.tzinfo) == (23, 59, 59, UTC)


def test_ready_period_is_three_months_from_activation_in_whole_seconds() -> None:
    activated = datetime(2023, 11, 30, 8, 0, 0, 654321, tzinfo=UTC)
    period = ready_period(activated)
    assert period.start == datetime(2023, 11, 30, 8, 0, 0, tzinfo=UTC)
    assert period.end == datetime(2024, 2, 29, 8, 0, 0, tzinfo=UTC)


def test_monthly_periods_from_jan_31_do_not_drift_after_february() -> None:
    first = first_active_period(at(2023, 1, 31))
    second = next_active_period(first)
    third = next_active_period(second)
    fourth = next_active_period(third)
    assert (first.start, first.end) == (at(2023, 1, 31), at(2023, 2, 28))
    assert (second.start, second.end) == (at(2023, 2, 28), at(2023, 3, 31))
    assert (third.start, third.end) == (at(2023, 3, 31), at(2023, 4, 30))
    assert (fourth.start, fourth.end) == (at(2023, 4, 30), at(2023, 5, 31))


def test_leap_year_february_from_the_30th() -> None:
    first = first_active_period(at(2024, 1, 30))
    assert first.end == at(2024, 2, 29)
    assert next_active_period(first).end == at(2024, 3, 30)


def test_anchor_day_is_recovered_from_a_clamped_period() -> None:
    assert anchor_day(Span(at(2023, 2, 28), at(2023, 3, 31))) == 31
    assert anchor_day(Span(at(2023, 4, 30), at(2023, 5, 30))) == 30
    assert anchor_day(Span(at(2023, 2, 28), at(2023, 3, 29))) == 29
    assert anchor_day(Span(at(2023, 6, 9), at(2023, 7, 9))) == 9


@given(
    anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)),
    count=st.integers(min_value=1, max_value=40),
)
def test_chained_periods_equal_periods_computed_from_the_anchor(anchor: datetime, count: int) -> None:
    activated = truncate(anchor.replace(tzinfo=UTC))
    period = first_active_period(activated)
    for index in range(1, count):
        period = next_active_period(period)
        assert period.start == add_months(activated, index)
        assert period.end == add_months(activated, index + 1)
        assert period.start < period.end


def test_periods_through_fills_every_gap_up_to_the_covering_period() -> None:
    first = first_active_period(at(2023, 1, 31))
    now = at(2023, 5, 2)
    missing = list(periods_through(first, now))
    assert [p.start for p in missing] == [at(2023, 2, 28), at(2023, 3, 31), at(2023, 4, 30)]
    assert missing[-1].covers(now)
    assert all(a.end == b.start for a, b in zip([first, *missing], missing, strict=False))


def test_periods_through_is_empty_while_the_last_period_covers_now() -> None:
    first = first_active_period(at(2023, 6, 9))
    assert list(periods_through(first, at(2023, 7, 9) - timedelta(seconds=1))) == []
    # The end is exclusive: at the exact end instant the next period has begun.
    assert [p.start for p in periods_through(first, at(2023, 7, 9))] == [at(2023, 7, 9)]


def test_periods_through_is_bounded_against_a_runaway_clock() -> None:
    first = first_active_period(at(2000, 1, 1))
    assert len(list(periods_through(first, datetime(9000, 1, 1, tzinfo=UTC)))) == MAX_PERIODS
