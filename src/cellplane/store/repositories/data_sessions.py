"""Queries on data sessions: the addresses a SIM holds now, and a SIM's sessions newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import DataSession
from cellplane.store.repositories.paging import keyset_page

OPEN = "open"


async def open_session_addresses(session: AsyncSession, sim_sid: str) -> list[str]:
    """The UE addresses of the SIM's open sessions: an address exists only while a session holds it."""
    stmt = (
        select(DataSession.ue_ip)
        .where(DataSession.sim_sid == sim_sid, DataSession.status == OPEN, DataSession.ue_ip.is_not(None))
        .order_by(DataSession.sid)
    )
    return [address for address in (await session.execute(stmt)).scalars() if address]


async def list_for_sim(
    session: AsyncSession, sim_sid: str, spec: PageSpec, *, account_sid: str | None = None
) -> Page[DataSession]:
    """The SIM's sessions, newest first (sids are time-ordered); only those of `account_sid` when given.

    A session belongs to the account that owned the SIM when it ran, so after a transfer the new
    owner passes its account and does not see the previous owner's sessions.
    """
    stmt = select(DataSession).where(DataSession.sim_sid == sim_sid)
    if account_sid is not None:
        stmt = stmt.where(DataSession.account_sid == account_sid)
    return await keyset_page(session, stmt, DataSession.sid, spec, descending=True)
