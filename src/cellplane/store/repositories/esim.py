"""Queries on eSIM profiles, and taking a free Super SIM from the inventory for one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import EsimProfile, Sim
from cellplane.store.repositories.paging import keyset_page

# A few candidates per round: a concurrent reservation may take one first.
_CANDIDATES = 5


async def find_visible(session: AsyncSession, sid: str, visible: Iterable[str]) -> EsimProfile | None:
    stmt = select(EsimProfile).where(EsimProfile.sid == sid, EsimProfile.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_for_update(session: AsyncSession, sid: str) -> EsimProfile | None:
    """The profile, row-locked on PostgreSQL so that two runs of its job never both advance it."""
    stmt = select(EsimProfile).where(EsimProfile.sid == sid)
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def visible_query(visible: Iterable[str]) -> Select[tuple[EsimProfile]]:
    return select(EsimProfile).where(EsimProfile.account_sid.in_(list(visible)))


async def first(session: AsyncSession, stmt: Select[tuple[EsimProfile]]) -> EsimProfile | None:
    """The oldest profile `stmt` selects (sids grow with time)."""
    return (await session.execute(stmt.order_by(EsimProfile.sid).limit(1))).scalar_one_or_none()


def list_query(account_sid: str) -> Select[tuple[EsimProfile]]:
    return select(EsimProfile).where(EsimProfile.account_sid == account_sid)


async def page(session: AsyncSession, stmt: Select[tuple[EsimProfile]], spec: PageSpec) -> Page[EsimProfile]:
    return await keyset_page(session, stmt, EsimProfile.sid, spec)


ESIM_POOL = "esim"


async def take_free_sim(session: AsyncSession, account_sid: str, now: datetime, eid: str | None) -> Sim | None:
    """Turn the oldest free eSIM inventory profile into a Super SIM of `account_sid`; None when none is left.

    Only SIMs provisioned as `esim` are taken: a physical card in the inventory belongs to whoever holds
    it and its registration code.

    The conditional UPDATE (still unclaimed?) makes the take safe against a concurrent reservation
    on either backend; SKIP LOCKED on PostgreSQL keeps two takers from queueing on the same row.
    """
    for _ in range(20):
        stmt = (
            select(Sim.sid)
            .where(Sim.account_sid.is_(None), Sim.product == ESIM_POOL)
            .order_by(Sim.sid)
            .limit(_CANDIDATES)
        )
        if session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        candidates = list((await session.execute(stmt)).scalars())
        if not candidates:
            return None
        for sid in candidates:
            values: dict[str, object] = {
                "account_sid": account_sid,
                "product": "supersim",
                "claimed_at": now,
                "date_created": now,
                "date_updated": now,
            }
            if eid is not None:
                values["eid"] = eid
            result = await session.execute(
                update(Sim)
                .where(Sim.sid == sid, Sim.account_sid.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return await session.get(Sim, sid, populate_existing=True)
    return None
