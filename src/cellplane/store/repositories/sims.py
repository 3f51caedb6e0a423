"""Queries on SIMs; every customer query is scoped by account."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Sim
from cellplane.store.repositories.paging import keyset_page


async def find_visible(session: AsyncSession, key: str, visible: Iterable[str], product: str) -> Sim | None:
    """A SIM by sid, or by unique name within the caller's own accounts."""
    accounts = list(visible)
    stmt = select(Sim).where(Sim.product == product, Sim.account_sid.in_(accounts))
    prefix = Prefix.SUPER_SIM if product == "supersim" else Prefix.WIRELESS_SIM
    stmt = stmt.where(Sim.sid == key) if is_sid(key, prefix) else stmt.where(Sim.unique_name == key)
    return (await session.execute(stmt.limit(2))).scalars().first()


async def by_iccid(session: AsyncSession, iccid: str) -> Sim | None:
    return (await session.execute(select(Sim).where(Sim.iccid == iccid))).scalar_one_or_none()


async def by_imsi(session: AsyncSession, imsi: str) -> Sim | None:
    return (await session.execute(select(Sim).where(Sim.imsi == imsi))).scalar_one_or_none()


async def unique_name_taken(session: AsyncSession, account_sid: str, name: str, except_sid: str) -> bool:
    stmt = select(Sim.sid).where(Sim.account_sid == account_sid, Sim.unique_name == name, Sim.sid != except_sid)
    return (await session.execute(stmt.limit(1))).first() is not None


def list_query(account_sid: str, product: str) -> Select[tuple[Sim]]:
    return select(Sim).where(Sim.account_sid == account_sid, Sim.product == product)


async def page(session: AsyncSession, stmt: Select[tuple[Sim]], spec: PageSpec) -> Page[Sim]:
    return await keyset_page(session, stmt, Sim.sid, spec)
