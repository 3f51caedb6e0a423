"""Wireless UsageRecords, for the account and for one SIM: data and Commands usage per hour, day or window.

The hosted resources (docs/iot/wireless/api/account-usagerecord-resource and sim-usagerecord-resource):
- the window is [Start, End): End defaults to now, Start to one month before End; usage is kept
  18 months, so a longer window is refused;
- Granularity `all` (the default) gives one record for the window, `daily` and `hourly` one per UTC
  day or hour that saw usage (newest first, as the Super SIM records are listed);
- each record splits data and Commands usage into the home network, national roaming and
  international roaming (one entry per country), see `domain/wireless.py`.

The sums come from the Super SIM usage aggregation (`store/repositories/usage.py`): `page_totals`
pages the periods, `cells` breaks the periods of that page down by network and country.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import wireless
from cellplane.domain.billing import add_months
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import usage_records
from cellplane.store.repositories import usage as repo

# Wire name -> the aggregation's time bucketing.
GRANULARITIES = {"hourly": "hour", "daily": "day", "all": "all"}
MAX_WINDOW_MONTHS = 18
BILLING_UNITS = usage_records.BILLED_UNIT
# Leaves room for the last period's end (an hour or a day later) within datetime's range.
_LATEST = datetime(9999, 12, 1, tzinfo=UTC)

is_page_key = repo.is_page_key


@dataclass
class Counters:
    """Usage in one zone (or country) of one period."""

    upload: int = 0
    download: int = 0
    to_sim: int = 0
    from_sim: int = 0

    def add(self, cell: repo.UsageCell) -> None:
        self.upload += cell.bytes_up
        self.download += cell.bytes_down
        # A Wireless Command travels as SMS or over IP; both count as Commands.
        self.to_sim += cell.sms_to_sim + cell.ip_to_sim
        self.from_sim += cell.sms_from_sim + cell.ip_from_sim

    @property
    def data_billed(self) -> Decimal:
        return usage_records.rate(self.upload + self.download)


@dataclass
class WirelessUsageRecord:
    account_sid: str
    sim_sid: str | None
    start: datetime
    end: datetime
    home: Counters = field(default_factory=Counters)
    national_roaming: Counters = field(default_factory=Counters)
    # ISO 3166-1 alpha-2 country -> usage there.
    international_roaming: dict[str, Counters] = field(default_factory=dict)

    @property
    def zones(self) -> list[Counters]:
        return [self.home, self.national_roaming, *self.international_roaming.values()]

    @property
    def total(self) -> Counters:
        whole = Counters()
        for zone in self.zones:
            whole.upload += zone.upload
            whole.download += zone.download
            whole.to_sim += zone.to_sim
            whole.from_sim += zone.from_sim
        return whole

    @property
    def data_billed(self) -> Decimal:
        """The sum of the zones' amounts (each rounded to cents), so the usage tree adds up."""
        return sum((zone.data_billed for zone in self.zones), Decimal(0))


def window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) after the defaults; refused when empty or longer than the retention."""
    end = end or now
    if end > _LATEST:
        raise InvalidParameter("End", "End is too far in the future", code=33101)
    try:
        start = start or add_months(end, -1)
        earliest = add_months(end, -MAX_WINDOW_MONTHS)
    except ValueError:  # before year 1
        raise InvalidParameter("End", "End is too far in the past", code=33101) from None
    if start >= end:
        raise InvalidParameter("Start", "Start must be before End", code=33101)
    if start < earliest:
        raise InvalidParameter("Start", f"Usage is kept {MAX_WINDOW_MONTHS} months: Start is too early", code=33101)
    return start, end


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _days(start: datetime, end: datetime) -> list[datetime]:
    """UTC midnights from the one at or before `start` up to `end` (the day buckets' boundaries)."""
    day, days = start.replace(hour=0, minute=0, second=0, microsecond=0), []
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    return days


async def list_records(
    session: AsyncSession,
    account_sid: str,
    spec: PageSpec,
    now: datetime,
    *,
    sim_sid: str | None = None,
    granularity: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Page[WirelessUsageRecord]:
    """One page of usage records of `account_sid`'s Wireless SIMs (or of one SIM)."""
    periods = GRANULARITIES.get(granularity or "all")
    if periods is None:
        raise InvalidParameter("Granularity", f"Granularity must be one of: {', '.join(GRANULARITIES)}", code=33101)
    start, end = window(start, end, now)
    query = repo.UsageQuery(
        account_sid=account_sid,
        # A bucket holds an hour: it counts when that hour overlaps [start, end).
        start=_floor_hour(start),
        end=end,
        periods=periods,
        day_starts=_days(start, end) if periods == "day" else (),
        sim_sid=sim_sid,
        sim_prefix=str(Prefix.WIRELESS_SIM),
    )
    totals = await repo.page_totals(session, query, spec)
    length = timedelta(hours=1) if periods == "hour" else timedelta(days=1)
    records: dict[datetime | None, WirelessUsageRecord] = {}
    for total in totals.items:
        begins = total.period_start or start
        ends = total.period_start + length if total.period_start is not None else end
        records[total.period_start] = WirelessUsageRecord(account_sid, sim_sid, begins, ends)
    if records:
        for cell in await repo.cells(session, _narrowed(query, list(records), length)):
            record = records.get(cell.period_start)
            if record is not None:
                _bucket_of(record, cell).add(cell)
    return Page(
        items=list(records.values()),
        has_next=totals.has_next,
        has_previous=totals.has_previous,
        first_key=totals.first_key,
        last_key=totals.last_key,
    )


def _narrowed(query: repo.UsageQuery, periods: list[datetime | None], length: timedelta) -> repo.UsageQuery:
    """The query cut down to the periods of one page (the whole window for `all`)."""
    starts = [period for period in periods if period is not None]
    if not starts:
        return query
    first = max(query.start, min(starts))
    last = min(query.end, max(starts) + length)
    return replace(query, start=first, end=last, day_starts=_days(first, last) if query.periods == "day" else ())


def _bucket_of(record: WirelessUsageRecord, cell: repo.UsageCell) -> Counters:
    where = wireless.zone(cell.network_sid, cell.iso_country)
    if where == wireless.HOME:
        return record.home
    if where == wireless.NATIONAL_ROAMING:
        return record.national_roaming
    return record.international_roaming.setdefault((cell.iso_country or "").upper(), Counters())
