"""Network access profile use cases: create, list, fetch, rename, and manage the visited networks a profile allows."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.networks import Network, catalogue
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import unique_names
from cellplane.store.models import NetworkAccessProfile
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import fleets as repo


async def create(
    session: AsyncSession, caller: Caller, unique_name: str | None, networks: list[str]
) -> NetworkAccessProfile:
    """POST /NetworkAccessProfiles: `networks` are HW sids or MCC-MNC texts, each must be in the catalogue."""
    name = unique_name or None
    if name is not None:
        await unique_names.check(
            "NetworkAccessProfile", name, lambda name: repo.profile_name_taken(session, caller.account_sid, name, None)
        )
    allowed = _resolve_networks("Networks", networks)
    profile = NetworkAccessProfile(sid=new_sid(Prefix.NETWORK_ACCESS_PROFILE), account_sid=caller.account_sid)
    profile.unique_name = name
    session.add(profile)
    await unique_names.flush(session, "NetworkAccessProfile", name)
    # The profile row first: its networks reference it.
    repo.add_profile_networks(session, profile.sid, [n.sid for n in allowed])
    await session.flush()
    return profile


async def fetch(session: AsyncSession, caller: Caller, key: str) -> NetworkAccessProfile:
    """A profile of the caller's account by sid or unique name."""
    profile = await repo.find_profile(session, caller.account_sid, key)
    if profile is None:
        raise NotFound("NetworkAccessProfile", key)
    return profile


async def list_profiles(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[NetworkAccessProfile]:
    return await repo.page_profiles(session, caller.account_sid, spec)


async def update(session: AsyncSession, caller: Caller, key: str, unique_name: str | None) -> NetworkAccessProfile:
    """POST /NetworkAccessProfiles/{Sid}: rename ("" clears the unique name)."""
    profile = await fetch(session, caller, key)
    if unique_name is not None:
        name = unique_name or None
        if name is not None:
            await unique_names.check(
                "NetworkAccessProfile",
                name,
                lambda name: repo.profile_name_taken(session, caller.account_sid, name, profile.sid),
            )
        profile.unique_name = name
        profile.date_updated = utcnow()
        await unique_names.flush(session, "NetworkAccessProfile", name)
    return profile


async def list_networks(
    session: AsyncSession, caller: Caller, key: str, spec: PageSpec
) -> tuple[NetworkAccessProfile, Page[Network]]:
    """The networks a profile allows, paged by network sid."""
    profile = await fetch(session, caller, key)
    rows = await repo.page_profile_networks(session, profile.sid, spec)
    known = catalogue()
    # A row whose network left the catalogue (dataset upgrade) is skipped rather than shown half-empty.
    networks = [n for n in (known.get(row.network_sid) for row in rows.items) if n is not None]
    page = Page(
        items=networks,
        has_next=rows.has_next,
        has_previous=rows.has_previous,
        first_key=rows.first_key,
        last_key=rows.last_key,
    )
    return profile, page


async def add_network(
    session: AsyncSession, caller: Caller, key: str, network: str | None
) -> tuple[NetworkAccessProfile, Network]:
    """POST /NetworkAccessProfiles/{Sid}/Networks: allow one more network."""
    if not network:
        raise MissingParameter("Network")
    profile = await fetch(session, caller, key)
    [found] = _resolve_networks("Network", [network])
    if await repo.has_profile_network(session, profile.sid, found.sid):
        raise Conflict(f"Network {found.sid} is already allowed by NetworkAccessProfile {profile.sid}")
    repo.add_profile_networks(session, profile.sid, [found.sid])
    profile.date_updated = utcnow()
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent request added the same network between our check and our insert.
        raise Conflict(f"Network {found.sid} is already allowed by NetworkAccessProfile {profile.sid}") from None
    return profile, found


async def fetch_network(
    session: AsyncSession, caller: Caller, key: str, network_sid: str
) -> tuple[NetworkAccessProfile, Network]:
    profile = await fetch(session, caller, key)
    network = catalogue().lookup(network_sid)
    if network is None or not await repo.has_profile_network(session, profile.sid, network.sid):
        raise NotFound("Network", network_sid)
    return profile, network


async def remove_network(session: AsyncSession, caller: Caller, key: str, network_sid: str) -> None:
    """DELETE /NetworkAccessProfiles/{Sid}/Networks/{Sid}: the profile no longer allows that network."""
    profile = await fetch(session, caller, key)
    network = catalogue().lookup(network_sid)
    # A sid the catalogue no longer knows (a network retired by a dataset upgrade) can still be removed.
    sid = network.sid if network is not None else network_sid
    if not await repo.remove_profile_network(session, profile.sid, sid):
        raise NotFound("Network", network_sid)
    profile.date_updated = utcnow()
    await session.flush()


async def allowed_network_sids(session: AsyncSession, profile_sid: str) -> set[str]:
    """The HW sids a profile allows, exactly as listed: an empty set means the profile allows no network.

    Not scoped by account: callers (AAA, gateway) reach the profile through a SIM's fleet, already checked.
    """
    return await repo.profile_network_sids(session, profile_sid)


def _resolve_networks(parameter: str, values: list[str]) -> list[Network]:
    """Catalogue entries for each value, once each, in the order given; an unknown value names the parameter."""
    known = catalogue()
    resolved: dict[str, Network] = {}
    for value in values:
        if value.strip() == "":
            continue
        network = known.lookup(value)
        if network is None:
            raise InvalidParameter(
                parameter, f"{parameter}: {value} is not a known Network (give a Network sid or MCC-MNC)"
            )
        resolved.setdefault(network.sid, network)
    return list(resolved.values())
