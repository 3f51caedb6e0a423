"""Usage totals summed from hourly buckets: filtered, grouped by a dimension and a time bucket, keyset-paged.

Every sum is one SQL GROUP BY over `usage_buckets`. Bucketing by day must read the same on SQLite
and PostgreSQL, which share no date-truncation function, so the caller hands in the day boundaries
and the period becomes a CASE over them; hours need nothing (a bucket is an hour).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.errors import InvalidPageToken
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import UsageBucket
from cellplane.store.models.base import UtcDateTime

# The dimensions a query may group by, as bucket columns ("" stands for unknown in every one).
GROUP_COLUMNS: dict[str, Any] = {
    "sim_sid": UsageBucket.sim_sid,
    "fleet_sid": UsageBucket.fleet_sid,
    "network_sid": UsageBucket.network_sid,
    "iso_country": UsageBucket.iso_country,
}

# A page position: the period start (compact ISO 8601, empty without periods) and the group value.
_KEY = re.compile(r"^(\d{8}T\d{6}Z)?~([A-Za-z0-9]{0,34})\Z")
_KEY_TIME = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class UsageQuery:
    """What to sum: buckets of `account_sid` whose hour lies in [start, end), narrowed by the filters.

    `periods` picks the time bucketing: "hour" (each bucket hour), "day" (the half-open days that
    start at `day_starts`, ascending, the first at or before `start`) or "all" (one sum).
    `group` is a key of GROUP_COLUMNS, or None for no grouping.
    """

    account_sid: str
    start: datetime
    end: datetime
    periods: str = "all"
    day_starts: Sequence[datetime] = ()
    group: str | None = None
    sim_sid: str | None = None
    fleet_sid: str | None = None
    network_sid: str | None = None
    iso_country: str | None = None
    # Only SIMs whose sid starts with this (a product line: "DE" Wireless, "HS" Super SIM).
    sim_prefix: str | None = None


@dataclass(frozen=True)
class UsageTotal:
    """Bytes of one (period, group) cell; `period_start` is None for "all", `group` None without grouping."""

    period_start: datetime | None
    group: str | None
    bytes_up: int
    bytes_down: int

    @property
    def key(self) -> str:
        stamp = self.period_start.strftime(_KEY_TIME) if self.period_start is not None else ""
        return f"{stamp}~{self.group or ''}"


def is_page_key(value: str) -> bool:
    """Whether a decoded PageToken is a position in a usage list."""
    return bool(_KEY.match(value))


def _parse_key(value: str) -> tuple[datetime | None, str]:
    match = _KEY.match(value)
    if match is None:
        raise InvalidPageToken()
    stamp, group = match.groups()
    period = datetime.strptime(stamp, _KEY_TIME).replace(tzinfo=UTC) if stamp else None
    return period, group


def _period_expression(query: UsageQuery) -> SQLColumnExpression[datetime] | None:
    if query.periods == "hour":
        return UsageBucket.hour
    if query.periods == "day":
        starts = list(query.day_starts)
        if not starts:
            raise ValueError("day bucketing needs day boundaries")
        # WHEN hour < next_day THEN this_day, in ascending order: the first match is the bucket's day.
        whens = [
            (UsageBucket.hour < literal(following, UtcDateTime()), literal(day, UtcDateTime()))
            for day, following in pairwise(starts)
        ]
        last = literal(starts[-1], UtcDateTime())
        return case(*whens, else_=last) if whens else last
    return None


def _filters(query: UsageQuery) -> list[ColumnElement[bool]]:
    conditions = [
        UsageBucket.account_sid == query.account_sid,
        UsageBucket.hour >= query.start,
        UsageBucket.hour < query.end,
    ]
    if query.sim_sid is not None:
        conditions.append(UsageBucket.sim_sid == query.sim_sid)
    if query.fleet_sid is not None:
        conditions.append(UsageBucket.fleet_sid == query.fleet_sid)
    if query.network_sid is not None:
        conditions.append(UsageBucket.network_sid == query.network_sid)
    if query.iso_country is not None:
        conditions.append(UsageBucket.iso_country == query.iso_country)
    if query.sim_prefix is not None:
        conditions.append(UsageBucket.sim_sid.startswith(query.sim_prefix, autoescape=True))
    return conditions


async def page_totals(session: AsyncSession, query: UsageQuery, spec: PageSpec) -> Page[UsageTotal]:
    """One page of (period, group) sums, newest period first, then by group value.

    The period and group are computed per bucket in a subquery and grouped outside it, so each
    expression appears once (PostgreSQL would not match a CASE repeated with fresh bind parameters
    in SELECT and GROUP BY). Keyset conditions are on those per-bucket values, so they filter rows
    before the GROUP BY and a deep page costs what the first does.
    """
    period_expr = _period_expression(query)
    group_column = GROUP_COLUMNS[query.group] if query.group is not None else None
    columns: list[Any] = []
    if period_expr is not None:
        columns.append(period_expr.label("period"))
    if group_column is not None:
        columns.append(func.coalesce(group_column, "").label("grp"))
    rows_query = select(*columns, UsageBucket.bytes_up, UsageBucket.bytes_down).where(*_filters(query)).subquery()
    period = rows_query.c.period if period_expr is not None else None
    group = rows_query.c.grp if group_column is not None else None
    keys = [column for column in (period, group) if column is not None]

    sums = [func.sum(rows_query.c.bytes_up).label("up"), func.sum(rows_query.c.bytes_down).label("down")]
    stmt = select(*keys, *sums).select_from(rows_query)
    if not keys:
        # "all" without a group: one sum that exists even when nothing was used (the API shows zeros).
        if spec.after is not None or spec.before is not None or spec.offset > 0:
            return Page(items=[], has_next=False, has_previous=True)
        row = (await session.execute(stmt)).one()
        total = UsageTotal(None, None, int(row.up or 0), int(row.down or 0))
        return Page(items=[total], has_next=False, has_previous=False, first_key=total.key, last_key=total.key)
    stmt = stmt.group_by(*keys)

    def beyond(key: str, forward: bool) -> ColumnElement[bool]:
        """Rows after `key` in list order (period descending, group ascending), or before it."""
        at_period, at_group = _parse_key(key)
        if (at_period is None) != (period is None) or (group is None and at_group):
            raise InvalidPageToken()  # a position from a list of another shape (other Granularity or Group)
        group_side = (group > at_group if forward else group < at_group) if group is not None else None
        if period is None or at_period is None:
            assert group_side is not None
            return group_side
        period_side = period < at_period if forward else period > at_period
        if group_side is None:
            return period_side
        return or_(period_side, and_(period == at_period, group_side))

    forward_order = [*([period.desc()] if period is not None else []), *([group.asc()] if group is not None else [])]
    backward_order = [*([period.asc()] if period is not None else []), *([group.desc()] if group is not None else [])]

    def totals(rows: Sequence[Any]) -> list[UsageTotal]:
        return [
            UsageTotal(
                getattr(row, "period", None),
                getattr(row, "grp", None),
                int(row.up or 0),
                int(row.down or 0),
            )
            for row in rows
        ]

    if spec.before is not None:
        fetched = (
            await session.execute(
                stmt.where(beyond(spec.before, forward=False)).order_by(*backward_order).limit(spec.size + 1)
            )
        ).all()
        has_previous = len(fetched) > spec.size
        items = totals(fetched[: spec.size])
        items.reverse()
        has_next = True
    else:
        paged = stmt.order_by(*forward_order)
        if spec.after is not None:
            paged = paged.where(beyond(spec.after, forward=True))
        elif spec.offset:
            paged = paged.offset(spec.offset)
        fetched = (await session.execute(paged.limit(spec.size + 1))).all()
        has_next = len(fetched) > spec.size
        items = totals(fetched[: spec.size])
        has_previous = spec.after is not None or spec.offset > 0
    return Page(
        items=items,
        has_next=has_next,
        has_previous=has_previous,
        first_key=items[0].key if items else None,
        last_key=items[-1].key if items else None,
    )


@dataclass(frozen=True)
class UsageCell:
    """Every counter of one (period, network, country) cell; `period_start` is None for "all"."""

    period_start: datetime | None
    network_sid: str
    iso_country: str | None
    bytes_up: int
    bytes_down: int
    sms_to_sim: int
    sms_from_sim: int
    ip_to_sim: int
    ip_from_sim: int


async def cells(session: AsyncSession, query: UsageQuery) -> list[UsageCell]:
    """All counters summed per (period, network, country): the breakdown behind a page of `page_totals`.

    The caller narrows `query` to the periods of the page it shows, so this reads no more buckets
    than that page covers. Same subquery shape as `page_totals`, for the same reason.
    """
    period_expr = _period_expression(query)
    counters = ("bytes_up", "bytes_down", "sms_to_sim", "sms_from_sim", "ip_to_sim", "ip_from_sim")
    columns: list[Any] = [period_expr.label("period")] if period_expr is not None else []
    rows_query = (
        select(
            *columns,
            UsageBucket.network_sid.label("network"),
            UsageBucket.iso_country.label("country"),
            *(getattr(UsageBucket, name) for name in counters),
        )
        .where(*_filters(query))
        .subquery()
    )
    keys = [rows_query.c.network, rows_query.c.country]
    if period_expr is not None:
        keys.insert(0, rows_query.c.period)
    sums = [func.sum(rows_query.c[name]).label(name) for name in counters]
    rows = (await session.execute(select(*keys, *sums).group_by(*keys))).all()
    return [
        UsageCell(
            period_start=getattr(row, "period", None),
            network_sid=row.network or "",
            iso_country=row.country,
            bytes_up=int(row.bytes_up or 0),
            bytes_down=int(row.bytes_down or 0),
            sms_to_sim=int(row.sms_to_sim or 0),
            sms_from_sim=int(row.sms_from_sim or 0),
            ip_to_sim=int(row.ip_to_sim or 0),
            ip_from_sim=int(row.ip_from_sim or 0),
        )
        for row in rows
    ]
