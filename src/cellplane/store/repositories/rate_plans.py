"""Queries on Programmable Wireless rate plans, scoped by account."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import RatePlan, Sim
from cellplane.store.repositories.paging import keyset_page


async def find(session: AsyncSession, account_sid: str, key: str, *, lock: str | None = None) -> RatePlan | None:
    """A rate plan of `account_sid` by sid or unique name.

    `lock` ("share" to assign it to a SIM, "update" to delete it) makes a PostgreSQL delete wait for
    an assignment in flight, so a plan is never deleted under a SIM that was just given it (SQLite
    has a single writer anyway and ignores the clause).
    """
    stmt = select(RatePlan).where(RatePlan.account_sid == account_sid)
    stmt = stmt.where(RatePlan.sid == key) if is_sid(key, Prefix.RATE_PLAN) else stmt.where(RatePlan.unique_name == key)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def get(session: AsyncSession, sid: str) -> RatePlan | None:
    return await session.get(RatePlan, sid)


async def name_taken(session: AsyncSession, account_sid: str, name: str, except_sid: str | None) -> bool:
    stmt = select(RatePlan.sid).where(RatePlan.account_sid == account_sid, RatePlan.unique_name == name)
    if except_sid is not None:
        stmt = stmt.where(RatePlan.sid != except_sid)
    return (await session.execute(stmt.limit(1))).first() is not None


async def page(session: AsyncSession, account_sid: str, spec: PageSpec) -> Page[RatePlan]:
    stmt = select(RatePlan).where(RatePlan.account_sid == account_sid)
    return await keyset_page(session, stmt, RatePlan.sid, spec)


async def sims_using(session: AsyncSession, rate_plan_sid: str) -> int:
    """How many SIMs (of any account) are assigned the rate plan."""
    stmt = select(func.count()).select_from(Sim).where(Sim.rate_plan_sid == rate_plan_sid)
    return int((await session.execute(stmt)).scalar_one())


async def remove(session: AsyncSession, rate_plan_sid: str) -> None:
    await session.execute(delete(RatePlan).where(RatePlan.sid == rate_plan_sid))
