"""Who owns SIMs named by ICCID: what the emulator's control API asks before letting a caller drive a device."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import Sim

_CHUNK = 500  # ICCIDs per IN list: far below SQLite's and PostgreSQL's bound-parameter limits


async def owners(session: AsyncSession, iccids: Collection[str]) -> dict[str, str | None]:
    """ICCID -> owning account sid (None while unclaimed), for the ICCIDs that exist in the inventory."""
    wanted = sorted(set(iccids))
    found: dict[str, str | None] = {}
    for start in range(0, len(wanted), _CHUNK):
        stmt = select(Sim.iccid, Sim.account_sid).where(Sim.iccid.in_(wanted[start : start + _CHUNK]))
        found.update({iccid: account for iccid, account in (await session.execute(stmt)).all()})
    return found
