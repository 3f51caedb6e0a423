"""Super SIM UsageRecords: usage summed by hour, day or the whole window, grouped by SIM, fleet, network or country.

The rules follow the UsageRecord resource of the hosted API (docs/iot/supersim/api/usage-record-resource):
- the window is [StartTime, EndTime): EndTime defaults to now, StartTime to one month before EndTime;
- Granularity `all` (the default) gives one record for the window, `day` and `hour` one per UTC day or
  hour that saw usage, newest first; a window may span 18 months, 3 months or 31 days respectively
  (error 83604), and 31 days when grouped by `sim` (error 83603);
- a dimension (sim_sid, fleet_sid, network_sid, iso_country) is filled when the list is grouped by it
  or filtered by it, and null otherwise;
- usage stays with the account that owned the SIM when it happened (seed 004: a transferred SIM's
  usage records do not move with it), and the fleet is the one the SIM was in at that time.
- only Super SIMs (HS...) count: the usage of the account's Programmable Wireless SIMs (DE...) is in the same
  buckets and is the Wireless API's (services/wireless_usage.py, which reads DE... only).

Usage is counted in whole hourly buckets: a bucket counts when its hour overlaps the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import rating
from cellplane.domain.billing import add_months
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.repositories import fleets as fleet_repo
from cellplane.store.repositories import sims as sim_repo
from cellplane.store.repositories import usage as repo

PRODUCT = "supersim"
GRANULARITIES = ("hour", "day", "all")
# Wire name of each Group value -> the usage dimension it groups by.
GROUPS = {"sim": "sim_sid", "fleet": "fleet_sid", "network": "network_sid", "isoCountry": "iso_country"}

# The hosted API's longest windows per Granularity, and for Group=sim (errors 83604 and 83603).
MAX_HOUR_WINDOW = timedelta(days=31)
MAX_DAY_MONTHS = 3
MAX_ALL_MONTHS = 18
MAX_SIM_GROUP_WINDOW = timedelta(days=31)

# Rating: the one engine (domain/rating.py) with the platform's default price plan: 0.10 USD per MB of 10^6
# bytes (the spec's own example bills 300,000 bytes at 0.03 USD), rounded half-up to the cent.
BILLED_UNIT = rating.DEFAULT_PLAN.currency

_NETWORK = re.compile(r"^HW[0-9a-fA-F]{32}\Z")
_COUNTRY = re.compile(r"^[A-Za-z]{2}\Z")
_ICCID = re.compile(r"^\d{18,22}\Z")

is_page_key = repo.is_page_key


@dataclass(frozen=True)
class UsageRequest:
    """The query parameters of GET /UsageRecords, as given (None = not given)."""

    sim: str | None = None
    fleet: str | None = None
    network: str | None = None
    iso_country: str | None = None
    group: str | None = None
    granularity: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class UsageRecord:
    account_sid: str
    sim_sid: str | None
    fleet_sid: str | None
    network_sid: str | None
    iso_country: str | None
    start_time: datetime
    end_time: datetime
    data_upload: int
    data_download: int

    @property
    def data_total(self) -> int:
        return self.data_upload + self.data_download

    @property
    def data_total_billed(self) -> Decimal:
        return rate(self.data_total)

    @property
    def billed_unit(self) -> str:
        return BILLED_UNIT


def rate(data_bytes: int) -> Decimal:
    """The price of `data_bytes` in BILLED_UNIT, rounded to cents, by the rating engine."""
    return rating.data_charge(data_bytes, rating.DEFAULT_PLAN)


def window(request: UsageRequest, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) after defaults, checked against the limits of the requested Granularity and Group."""
    end = request.end_time or now
    start = request.start_time or add_months(end, -1)
    if start >= end:
        raise InvalidParameter("StartTime", "StartTime must be before EndTime")
    granularity = request.granularity or "all"
    if granularity == "hour" and end - start > MAX_HOUR_WINDOW:
        raise InvalidParameter("StartTime", "Granularity hour may query at most 31 days", code=83604)
    if granularity == "day" and start < add_months(end, -MAX_DAY_MONTHS):
        raise InvalidParameter("StartTime", "Granularity day may query at most 3 months", code=83604)
    if granularity == "all" and start < add_months(end, -MAX_ALL_MONTHS):
        raise InvalidParameter("StartTime", "Granularity all may query at most 18 months", code=83604)
    if request.group == "sim" and end - start > MAX_SIM_GROUP_WINDOW:
        raise InvalidParameter("StartTime", "Usage grouped by sim may query at most 31 days", code=83603)
    return start, end


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _day_starts(start: datetime, end: datetime) -> list[datetime]:
    days, day = [], _floor_day(start)
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    return days


async def _sim_sid(session: AsyncSession, caller: Caller, key: str) -> str:
    """A Sim filter: a sid as given (its usage stays ours after a transfer), else a unique name or ICCID."""
    if is_sid(key, Prefix.SUPER_SIM):
        return key
    sim = await sim_repo.find_visible(session, key, [caller.account_sid], PRODUCT)
    if sim is None and _ICCID.match(key):
        found = await sim_repo.by_iccid(session, key)
        sim = found if found is not None and found.account_sid == caller.account_sid else None
    if sim is None:
        raise NotFound("Sim", key)
    return sim.sid


async def _fleet_sid(session: AsyncSession, caller: Caller, key: str) -> str:
    if is_sid(key, Prefix.FLEET):
        return key
    fleet = await fleet_repo.find_fleet(session, caller.account_sid, key)
    if fleet is None:
        raise NotFound("Fleet", key)
    return fleet.sid


def _network_sid(key: str) -> str:
    if not _NETWORK.match(key):
        raise InvalidParameter("Network", "Network must be the SID of a Network resource (HW followed by 32 hex)")
    return "HW" + key[2:].lower()


def _country(key: str) -> str:
    if not _COUNTRY.match(key):
        raise InvalidParameter("IsoCountry", "IsoCountry must be an ISO 3166-1 alpha-2 country code")
    return key.upper()


async def list_usage_records(
    session: AsyncSession, caller: Caller, request: UsageRequest, spec: PageSpec, now: datetime
) -> Page[UsageRecord]:
    granularity = request.granularity or "all"
    if granularity not in GRANULARITIES:
        raise InvalidParameter("Granularity", f"Granularity must be one of: {', '.join(GRANULARITIES)}")
    if request.group is not None and request.group not in GROUPS:
        raise InvalidParameter("Group", f"Group must be one of: {', '.join(GROUPS)}")
    network = _network_sid(request.network) if request.network is not None else None
    country = _country(request.iso_country) if request.iso_country is not None else None
    start, end = window(request, now)
    sim = await _sim_sid(session, caller, request.sim) if request.sim is not None else None
    fleet = await _fleet_sid(session, caller, request.fleet) if request.fleet is not None else None

    group = GROUPS[request.group] if request.group is not None else None
    query = repo.UsageQuery(
        account_sid=caller.account_sid,
        # A bucket holds an hour: it counts when that hour overlaps [start, end).
        start=_floor_hour(start),
        end=end,
        periods=granularity,
        day_starts=_day_starts(start, end) if granularity == "day" else (),
        group=group,
        sim_sid=sim,
        fleet_sid=fleet,
        network_sid=network,
        iso_country=country,
        # Super SIMs only: the account's Wireless SIMs (DE...) have buckets too, read by services/wireless_usage.py.
        sim_prefix=str(Prefix.SUPER_SIM),
    )
    totals = await repo.page_totals(session, query, spec)
    length = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)

    def record(total: repo.UsageTotal) -> UsageRecord:
        # A dimension shows when filtered by it (the filter's value) or grouped by it (the group's value).
        shown: dict[str, str | None] = {
            "sim_sid": sim,
            "fleet_sid": fleet,
            "network_sid": network,
            "iso_country": country,
        }
        if group is not None:
            shown[group] = total.group or None
        period_start = total.period_start or start
        return UsageRecord(
            account_sid=caller.account_sid,
            sim_sid=shown["sim_sid"],
            fleet_sid=shown["fleet_sid"],
            network_sid=shown["network_sid"],
            iso_country=shown["iso_country"],
            start_time=period_start,
            end_time=period_start + length if total.period_start is not None else end,
            data_upload=total.bytes_up,
            data_download=total.bytes_down,
        )

    return Page(
        items=[record(total) for total in totals.items],
        has_next=totals.has_next,
        has_previous=totals.has_previous,
        first_key=totals.first_key,
        last_key=totals.last_key,
    )
