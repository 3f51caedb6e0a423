"""Queries on SIM settings updates; the list follows the SIM's current owner (its history moves with it)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import SettingsUpdate, Sim
from cellplane.store.repositories.paging import keyset_page


async def exists_for_sim(session: AsyncSession, sim_sid: str) -> bool:
    stmt = select(SettingsUpdate.sid).where(SettingsUpdate.sim_sid == sim_sid).limit(1)
    return (await session.execute(stmt)).first() is not None


async def get_for_update(session: AsyncSession, sid: str) -> SettingsUpdate | None:
    stmt = select(SettingsUpdate).where(SettingsUpdate.sid == sid)
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def list_query(account_sid: str) -> Select[tuple[SettingsUpdate]]:
    """Updates of the SIMs `account_sid` owns now: seed 004 says the whole history follows a moved SIM."""
    return (
        select(SettingsUpdate)
        .join(Sim, Sim.sid == SettingsUpdate.sim_sid)
        .where(Sim.account_sid == account_sid, Sim.product == "supersim")
    )


async def page(session: AsyncSession, stmt: Select[tuple[SettingsUpdate]], spec: PageSpec) -> Page[SettingsUpdate]:
    return await keyset_page(session, stmt, SettingsUpdate.sid, spec)
