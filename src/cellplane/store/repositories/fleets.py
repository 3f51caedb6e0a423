"""Queries on fleets, network access profiles and the networks a profile allows, scoped by account."""

from __future__ import annotations

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Fleet, NetworkAccessProfile, NetworkAccessProfileNetwork
from cellplane.store.repositories.paging import keyset_page


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


async def fleet_name_taken(session: AsyncSession, account_sid: str, name: str, except_sid: str | None) -> bool:
    stmt = select(Fleet.sid).where(Fleet.account_sid == account_sid, Fleet.unique_name == name)
    if except_sid is not None:
        stmt = stmt.where(Fleet.sid != except_sid)
    return (await session.execute(stmt.limit(1))).first() is not None


async def profile_name_taken(session: AsyncSession, account_sid: str, name: str, except_sid: str | None) -> bool:
    stmt = select(NetworkAccessProfile.sid).where(
        NetworkAccessProfile.account_sid == account_sid, NetworkAccessProfile.unique_name == name
    )
    if except_sid is not None:
        stmt = stmt.where(NetworkAccessProfile.sid != except_sid)
    return (await session.execute(stmt.limit(1))).first() is not None


def fleet_query(account_sid: str, profile_sid: str | None = None) -> Select[tuple[Fleet]]:
    stmt = select(Fleet).where(Fleet.account_sid == account_sid)
    if profile_sid is not None:
        stmt = stmt.where(Fleet.network_access_profile_sid == profile_sid)
    return stmt


async def page_fleets(session: AsyncSession, stmt: Select[tuple[Fleet]], spec: PageSpec) -> Page[Fleet]:
    return await keyset_page(session, stmt, Fleet.sid, spec)


async def page_profiles(session: AsyncSession, account_sid: str, spec: PageSpec) -> Page[NetworkAccessProfile]:
    stmt = select(NetworkAccessProfile).where(NetworkAccessProfile.account_sid == account_sid)
    return await keyset_page(session, stmt, NetworkAccessProfile.sid, spec)


async def page_profile_networks(
    session: AsyncSession, profile_sid: str, spec: PageSpec
) -> Page[NetworkAccessProfileNetwork]:
    """The profile's network rows, ordered (and keyset-paged) by network sid."""
    stmt = select(NetworkAccessProfileNetwork).where(
        NetworkAccessProfileNetwork.network_access_profile_sid == profile_sid
    )
    return await keyset_page(session, stmt, NetworkAccessProfileNetwork.network_sid, spec)


async def profile_network_sids(session: AsyncSession, profile_sid: str) -> set[str]:
    stmt = select(NetworkAccessProfileNetwork.network_sid).where(
        NetworkAccessProfileNetwork.network_access_profile_sid == profile_sid
    )
    return set((await session.execute(stmt)).scalars())


async def has_profile_network(session: AsyncSession, profile_sid: str, network_sid: str) -> bool:
    stmt = select(NetworkAccessProfileNetwork.network_sid).where(
        NetworkAccessProfileNetwork.network_access_profile_sid == profile_sid,
        NetworkAccessProfileNetwork.network_sid == network_sid,
    )
    return (await session.execute(stmt)).first() is not None


def add_profile_networks(session: AsyncSession, profile_sid: str, network_sids: list[str]) -> None:
    session.add_all(
        NetworkAccessProfileNetwork(network_access_profile_sid=profile_sid, network_sid=sid) for sid in network_sids
    )


async def remove_profile_network(session: AsyncSession, profile_sid: str, network_sid: str) -> bool:
    """Delete one allowed network; whether a row was there."""
    result = await session.execute(
        delete(NetworkAccessProfileNetwork).where(
            NetworkAccessProfileNetwork.network_access_profile_sid == profile_sid,
            NetworkAccessProfileNetwork.network_sid == network_sid,
        )
    )
    return bool(getattr(result, "rowcount", 0))
