"""IP Profiles (the firewall of a Things Group) and Things Groups (THINGS.md)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things_config as config
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.things import check_if_match
from cellplane.services.things_networks import check_name, ensure_defaults
from cellplane.store.models import IpPool, IpProfile, Sim, ThingsGroup, ThingsNetwork
from cellplane.store.repositories import things as repo


@dataclass
class ProfileChange:
    """None means "not given"; rule lists are raw wire values, checked whole before anything is written."""

    name: str | None = None
    inbound: Any = None
    outbound: Any = None
    default_action: Any = None


async def profile(session: AsyncSession, caller: Caller, sid: str) -> IpProfile:
    await ensure_defaults(session, caller.account_sid)
    found = await repo.owned(session, IpProfile, caller.account_sid, sid)
    if found is None:
        raise NotFound("IpProfile", sid)
    return found


async def list_profiles(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[IpProfile]:
    await ensure_defaults(session, caller.account_sid)
    return await repo.page(session, repo.listing(IpProfile, caller.account_sid), IpProfile.sid, spec)


def _checked(change: ProfileChange) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if change.name is not None:
        values["name"] = check_name(change.name)
    for field in ("inbound", "outbound"):
        raw = getattr(change, field)
        if raw is not None:
            values[field] = [rule.wire() for rule in config.parse_rules(raw, field)]
    if change.default_action is not None:
        values["default_action"] = config.choice(change.default_action, "defaultAction", config.ACTIONS)
    return values


async def create_profile(session: AsyncSession, caller: Caller, change: ProfileChange) -> IpProfile:
    if change.name is None:
        raise InvalidParameter("name", "name is required")
    values = {"inbound": [], "outbound": [], "default_action": "allow", **_checked(change)}
    created = IpProfile(sid=new_sid(Prefix.IP_PROFILE), account_sid=caller.account_sid, **values)
    session.add(created)
    await session.flush()
    return created


async def update_profile(
    session: AsyncSession, caller: Caller, sid: str, change: ProfileChange, if_match: str | None
) -> IpProfile:
    found = await profile(session, caller, sid)
    check_if_match(if_match, found.sid, found.date_updated, "IpProfile")
    for name, value in _checked(change).items():
        setattr(found, name, value)
    await session.flush()
    return found


async def delete_profile(session: AsyncSession, caller: Caller, sid: str, if_match: str | None) -> None:
    found = await profile(session, caller, sid)
    check_if_match(if_match, found.sid, found.date_updated, "IpProfile")
    if await repo.groups_using_profile(session, found.sid):
        raise InvalidParameter("id", f"IpProfile {sid} is used by a Things Group")
    await session.delete(found)
    await session.flush()


# --- Things Groups ----------------------------------------------------------------------------------------------


@dataclass
class GroupChange:
    name: str | None = None
    network_id: str | None = None
    ip_profile_id: str | None = None


async def group(session: AsyncSession, caller: Caller, sid: str) -> ThingsGroup:
    await ensure_defaults(session, caller.account_sid)
    found = await repo.owned(session, ThingsGroup, caller.account_sid, sid)
    if found is None:
        raise NotFound("ThingsGroup", sid)
    return found


async def list_groups(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[ThingsGroup]:
    await ensure_defaults(session, caller.account_sid)
    return await repo.page(session, repo.listing(ThingsGroup, caller.account_sid), ThingsGroup.sid, spec)


async def _network(session: AsyncSession, caller: Caller, sid: str) -> ThingsNetwork:
    found = await repo.owned(session, ThingsNetwork, caller.account_sid, sid)
    if found is None:
        raise InvalidParameter("networkId", f"Network {sid} was not found in the account")
    return found


async def _profile(session: AsyncSession, caller: Caller, sid: str) -> IpProfile:
    found = await repo.owned(session, IpProfile, caller.account_sid, sid)
    if found is None:
        raise InvalidParameter("ipProfileId", f"IpProfile {sid} was not found in the account")
    return found


async def create_group(session: AsyncSession, caller: Caller, change: GroupChange) -> ThingsGroup:
    default = await ensure_defaults(session, caller.account_sid)
    name = check_name(change.name)
    network = await _network(session, caller, change.network_id) if change.network_id else None
    ip_profile = await _profile(session, caller, change.ip_profile_id) if change.ip_profile_id else None
    created = ThingsGroup(
        sid=new_sid(Prefix.THINGS_GROUP),
        account_sid=caller.account_sid,
        name=name,
        network_sid=network.sid if network else default.network_sid,
        ip_profile_sid=ip_profile.sid if ip_profile else default.ip_profile_sid,
    )
    session.add(created)
    await session.flush()
    return created


async def update_group(
    session: AsyncSession, caller: Caller, sid: str, change: GroupChange, if_match: str | None
) -> ThingsGroup:
    found = await group(session, caller, sid)
    check_if_match(if_match, found.sid, found.date_updated, "ThingsGroup")
    name = check_name(change.name) if change.name is not None else None
    network = await _network(session, caller, change.network_id) if change.network_id is not None else None
    ip_profile = await _profile(session, caller, change.ip_profile_id) if change.ip_profile_id is not None else None
    if network is not None and network.sid != found.network_sid:
        await check_locked_fit(session, found.sid, network.sid, "networkId")
        await check_no_forwards(session, found.sid, "networkId")
        found.network_sid = network.sid
        await repo.touch_things(session, [found.sid])
    if name is not None:
        found.name = name
    if ip_profile is not None:
        found.ip_profile_sid = ip_profile.sid
    await session.flush()
    return found


async def delete_group(session: AsyncSession, caller: Caller, sid: str, if_match: str | None) -> None:
    """Another group's Things go back to the default group; the default group is never deleted."""
    found = await group(session, caller, sid)
    check_if_match(if_match, found.sid, found.date_updated, "ThingsGroup")
    if found.default_for is not None:
        raise InvalidParameter("id", "The default Things Group is never deleted")
    default = await ensure_defaults(session, caller.account_sid)
    if default.network_sid != found.network_sid:
        await check_locked_fit(session, found.sid, default.network_sid, "id")
        await check_no_forwards(session, found.sid, "id")
    await repo.move_things(session, found.sid, default.sid)
    await session.delete(found)
    await session.flush()


async def check_locked_fit(session: AsyncSession, group_sid: str, network_sid: str, field: str) -> None:
    """Things with a locked address may move to another network only if its pools hold that address."""
    stmt = select(Sim.sid, Sim.locked_ip).where(Sim.things_group_sid == group_sid, Sim.locked_ip.is_not(None))
    locked = (await session.execute(stmt)).all()
    if not locked:
        return
    pools: list[IpPool] = (await repo.pools_of(session, [network_sid]))[network_sid]
    for thing, address in locked:
        if address is not None and not address_in_pools(address, pools):
            raise InvalidParameter(
                field, f"Thing {thing} has the locked address {address}, outside that network's pools"
            )


async def check_no_forwards(session: AsyncSession, group_sid: str, field: str) -> None:
    """A NAT rule forwards within its own network: its Thing cannot leave that network while the rule exists."""
    thing = await repo.nat_rules_to_group(session, group_sid)
    if thing is not None:
        raise InvalidParameter(
            field, f"A NAT rule forwards to Thing {thing}: delete it before the Thing changes network"
        )


def address_in_pools(address: str, pools: list[IpPool]) -> bool:
    value = ipaddress.IPv4Address(address)
    return any(config.in_pool(value, ipaddress.IPv4Network(p.cidr)) for p in pools)
