"""Queries on fleets and network access profiles, scoped by account."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix, is_sid
from cellplane.store.models import Fleet, NetworkAccessProfile


async def find_fleet(session: AsyncSession, account_sid: str, key: str) -> Fleet | None:
    """A fleet of `account_sid` by sid or unique name."""
    stmt = select(Fleet).where(Fleet.account_sid == account_sid)
    stmt = stmt.where(Fleet.sid == key) if is_sid(key, Prefix.FLEET) else stmt.where(Fleet.unique_name == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_profile(session: AsyncSession, account_sid: str, key: str) -> NetworkAccessProfile | None:
    stmt = select(NetworkAccessProfile).where(NetworkAccessProfile.account_sid == account_sid)
    if is_sid(key, Prefix.NETWORK_ACCESS_PROFILE):
        stmt = stmt.where(NetworkAccessProfile.sid == key)
    else:
        stmt = stmt.where(NetworkAccessProfile.unique_name == key)
    return (await session.execute(stmt)).scalar_one_or_none()
