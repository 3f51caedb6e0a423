"""Queries of rating (issue 18): price plans, Things' state history, usage summed per Thing, report downloads.

Each report is three set queries over the scope (its Things, their state changes up to the cycle's end, their
usage in the cycle), never a query per Thing: a report of 100,000 Things is three round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.things import PRODUCT
from cellplane.store.models import PricePlan, ReportDownload, Sim, ThingStateChange, UsageBucket


async def price_plan(session: AsyncSession, account_sid: str) -> PricePlan | None:
    return await session.get(PricePlan, account_sid)


async def record_changes(session: AsyncSession, sims: Sequence[Sim], at: datetime) -> None:
    """One state-history row per SIM (its current status from `at`), in one INSERT."""
    if sims:
        rows = [{"account_sid": sim.account_sid, "sim_sid": sim.sid, "status": sim.status, "at": at} for sim in sims]
        await session.execute(insert(ThingStateChange.__table__), rows)  # Core: no ORM bookkeeping per row


def _things(account_sid: str, group_sid: str | None, thing_sid: str | None) -> Select[Any]:
    stmt = select(Sim.sid).where(Sim.account_sid == account_sid, Sim.product == PRODUCT)
    if group_sid is not None:
        stmt = stmt.where(Sim.things_group_sid == group_sid)
    if thing_sid is not None:
        stmt = stmt.where(Sim.sid == thing_sid)
    return stmt


async def thing_sids(
    session: AsyncSession, account_sid: str, group_sid: str | None, thing_sid: str | None
) -> list[str]:
    stmt = _things(account_sid, group_sid, thing_sid).order_by(Sim.sid)
    return list((await session.execute(stmt)).scalars())


async def state_changes(
    session: AsyncSession, account_sid: str, group_sid: str | None, thing_sid: str | None, before: datetime
) -> list[tuple[str, str, datetime]]:
    """(sim sid, status, at) of the scope's Things' changes before `before`, oldest first per Thing."""
    scope = _things(account_sid, group_sid, thing_sid).subquery()
    stmt = (
        select(ThingStateChange.sim_sid, ThingStateChange.status, ThingStateChange.at)
        .join(scope, scope.c.sid == ThingStateChange.sim_sid)
        .where(ThingStateChange.at < before)
        .order_by(ThingStateChange.sim_sid, ThingStateChange.at, ThingStateChange.id)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(stmt)).all()]


async def usage(
    session: AsyncSession,
    account_sid: str,
    group_sid: str | None,
    thing_sid: str | None,
    start: datetime,
    end: datetime,
) -> dict[str, tuple[int, int]]:
    """Per Thing of the scope: (bytes up + down, SMS both ways) of the account's hourly buckets in [start, end)."""
    scope = _things(account_sid, group_sid, thing_sid).subquery()
    stmt = (
        select(
            UsageBucket.sim_sid,
            func.coalesce(func.sum(UsageBucket.bytes_up + UsageBucket.bytes_down), 0),
            func.coalesce(func.sum(UsageBucket.sms_to_sim + UsageBucket.sms_from_sim), 0),
        )
        .join(scope, scope.c.sid == UsageBucket.sim_sid)
        .where(UsageBucket.account_sid == account_sid, UsageBucket.hour >= start, UsageBucket.hour < end)
        .group_by(UsageBucket.sim_sid)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in (await session.execute(stmt)).all()}


async def download(session: AsyncSession, account_sid: str, sid: str, now: datetime) -> ReportDownload | None:
    stmt = select(ReportDownload).where(
        ReportDownload.sid == sid, ReportDownload.account_sid == account_sid, ReportDownload.expires_at > now
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def purge_downloads(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(ReportDownload).where(ReportDownload.expires_at <= now))
