"""Billing-period date math, pure: a `ready` period of three months, then monthly `active` periods.

Seed 004 (Sim resource): a SIM in `ready` pays no subscription for up to three months; once `active`,
it is billed per period that starts on its activation day-of-month. A month has no fixed length, so
a period runs to the same day-of-month and time in the next month, clamped to the month's last day
(activated Jan 31: Jan 31 -> Feb 28/29 -> Mar 31 -> Apr 30 ...). The clamp never drifts: every
period is computed from the anchor day, not from the clamped end of the previous one.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

READY = "ready"
ACTIVE = "active"
PERIOD_TYPES = (READY, ACTIVE)

READY_MONTHS = 3
# A SIM active for a century has 1200 periods; more than that means a broken clock, not a SIM.
MAX_PERIODS = 1200


@dataclass(frozen=True)
class Span:
    """A half-open interval [start, end) of UTC time."""

    start: datetime
    end: datetime

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def truncate(moment: datetime) -> datetime:
    """Whole seconds: the wire shows seconds, and a period's end must equal the next one's start exactly."""
    return moment.replace(microsecond=0)


def add_months(moment: datetime, months: int, *, day: int | None = None) -> datetime:
    """`moment` moved by `months` calendar months onto `day` (default: its own day), clamped to month end."""
    target_day = day if day is not None else moment.day
    years, month_index = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + years, month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(target_day, last_day))


def ready_period(activated: datetime) -> Span:
    """The free `ready` period: from activation for three months (ends early if the SIM goes active)."""
    start = truncate(activated)
    return Span(start, add_months(start, READY_MONTHS))


def first_active_period(activated: datetime) -> Span:
    """The first monthly `active` period, anchored at the activation time."""
    start = truncate(activated)
    return Span(start, add_months(start, 1))


def anchor_day(period: Span) -> int:
    """The activation day-of-month that produced a monthly period.

    A period's start and end are that day clamped to their months. Unclamped, both equal it; if
    one is clamped, the other is not and is the larger; if both are, one of two consecutive months
    always has 31 days, so the anchor was 31 — the larger again. Hence: the larger of the two days.
    """
    return max(period.start.day, period.end.day)


def next_active_period(period: Span) -> Span:
    """The monthly period after `period`: starts where it ended, ends a month later on the anchor day."""
    return Span(period.end, add_months(period.end, 1, day=anchor_day(period)))


def periods_through(last: Span, now: datetime) -> Iterator[Span]:
    """The monthly periods after `last` up to the one that covers `now` (none if `last` still does)."""
    current = last
    for _ in range(MAX_PERIODS):
        if current.end > now:
            return
        current = next_active_period(current)
        yield current
