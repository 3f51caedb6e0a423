"""Queries on billing periods: a SIM's latest period of a type, the one covering a moment, its list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import BillingPeriod, Sim
from cellplane.store.repositories.paging import keyset_page


async def lock_sim(session: AsyncSession, sim_sid: str) -> None:
    """Serialize period writers of one SIM (PostgreSQL row lock; SQLite has a single writer anyway)."""
    stmt = select(Sim.sid).where(Sim.sid == sim_sid)
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    await session.execute(stmt)


async def latest(session: AsyncSession, sim_sid: str, period_type: str) -> BillingPeriod | None:
    """The SIM's most recent period of `period_type`, whichever account it was billed to."""
    stmt = (
        select(BillingPeriod)
        .where(BillingPeriod.sim_sid == sim_sid, BillingPeriod.period_type == period_type)
        .order_by(BillingPeriod.start_time.desc(), BillingPeriod.sid.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def covering(session: AsyncSession, sim_sid: str, moment: datetime) -> BillingPeriod | None:
    """The SIM's period in force at `moment` (the latest-starting one, should two touch)."""
    stmt = (
        select(BillingPeriod)
        .where(
            BillingPeriod.sim_sid == sim_sid,
            BillingPeriod.start_time <= moment,
            BillingPeriod.end_time > moment,
        )
        .order_by(BillingPeriod.start_time.desc(), BillingPeriod.sid.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def list_query(account_sid: str, sim_sid: str) -> Select[tuple[BillingPeriod]]:
    """Periods billed to `account_sid`: after a transfer the old account's periods stay with it (seed 004)."""
    return select(BillingPeriod).where(BillingPeriod.account_sid == account_sid, BillingPeriod.sim_sid == sim_sid)


async def page(session: AsyncSession, stmt: Select[tuple[BillingPeriod]], spec: PageSpec) -> Page[BillingPeriod]:
    # Sids are time-ordered and periods are written in chronological order, so sid order is time order.
    return await keyset_page(session, stmt, BillingPeriod.sid, spec)
